package web

// /admin/queue and /admin/api/queue: the outbound queue, its entries
// retried now or removed (with or without a bounce) through
// admin.Service, as boxmail queue.

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"

	"boxmail/internal/store"
)

func parseID(s string) (int64, error) {
	id, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil || id <= 0 {
		return 0, badf("queue id %q is not a number", s)
	}
	return id, nil
}

func (s *Server) retryQueued(ctx context.Context, idStr string) error {
	id, err := parseID(idStr)
	if err != nil {
		return err
	}
	n, err := s.o.Admin.RetryQueued(ctx, id)
	if err != nil {
		return classify(err)
	}
	if n == 0 {
		return &badInput{msg: fmt.Sprintf("queue entry %d: not found", id), notFound: true}
	}
	return nil
}

func (s *Server) removeQueued(ctx context.Context, idStr string, silent bool) error {
	id, err := parseID(idStr)
	if err != nil {
		return err
	}
	return classify(s.o.Admin.RemoveQueued(ctx, id, silent))
}

func queueForm(s *Server, r *http.Request, _ string) (string, error) {
	ctx, id := r.Context(), r.PostFormValue("id")
	switch r.PostFormValue("op") {
	case "retry":
		return "Entry " + id + " will be tried again now.", s.retryQueued(ctx, id)
	case "remove":
		silent := r.PostFormValue("silent") == "on"
		return "Removed entry " + id + map[bool]string{true: " without telling the sender.", false: "; its sender gets a bounce."}[silent], s.removeQueued(ctx, id, silent)
	}
	return "", badf("unknown action")
}

type queueRow struct {
	store.QueueItem
	RecipientList string
}

func loadQueue(s *Server, r *http.Request) (any, error) {
	items, err := s.o.Store.Queue(r.Context())
	if err != nil {
		return nil, err
	}
	sort.Slice(items, func(i, j int) bool { return items[i].ID < items[j].ID })
	var out []queueRow
	for _, it := range items {
		out = append(out, queueRow{it, strings.Join(it.Recipients, ", ")})
	}
	return out, nil
}

// The /admin/api/queue calls (docs/api.md).

// queueItem is a queue entry in the API's JSON.
type queueItem struct {
	ID          int64    `json:"id"`
	Sender      string   `json:"sender"`
	Recipients  []string `json:"recipients"`
	Created     string   `json:"created"`
	NextAttempt string   `json:"next_attempt"`
	Attempts    int      `json:"attempts"`
	LastError   string   `json:"last_error"`
}

func (s *Server) apiQueue(r *http.Request, _ string) (any, error) {
	items, err := s.o.Store.Queue(r.Context())
	out := []queueItem{}
	for _, it := range items {
		out = append(out, queueItem{it.ID, it.Sender, it.Recipients, it.Created.UTC().Format("2006-01-02T15:04:05Z"), it.NextAttempt.UTC().Format("2006-01-02T15:04:05Z"), it.Attempts, it.LastError})
	}
	return out, err
}

func (s *Server) apiRetryQueued(r *http.Request, _ string) (any, error) {
	return nil, s.retryQueued(r.Context(), r.PathValue("id"))
}

func (s *Server) apiRemoveQueued(r *http.Request, _ string) (any, error) {
	return nil, s.removeQueued(r.Context(), r.PathValue("id"), r.URL.Query().Get("silent") == "true")
}
