package admin

import (
	"context"
	"errors"
)

// RetryQueued makes a queue entry (every entry when id is 0) due now and
// returns how many were; the running queue is kicked.
func (s *Service) RetryQueued(ctx context.Context, id int64) (int, error) {
	n, err := s.st.QueueRetry(ctx, id)
	if err != nil {
		return 0, err
	}
	if n > 0 && s.o.Queue != nil {
		s.o.Queue.Kick()
	}
	return n, nil
}

// RemoveQueued removes a queue entry, bouncing it to its sender unless
// silent: through the running queue, else (no server here) through the
// Deliverer with a bounce from Options.Hostname signed with the
// hostname's domain's DKIM key.
func (s *Service) RemoveQueued(ctx context.Context, id int64, silent bool) error {
	if s.o.Queue != nil {
		return s.o.Queue.Remove(ctx, id, silent)
	}
	if s.o.Hostname == "" {
		return errors.New("no queue to remove from")
	}
	return s.d.RemoveQueued(ctx, id, silent)
}
