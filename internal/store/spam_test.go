package store

import (
	"context"
	"strings"
	"testing"
	"time"
)

func TestMovesIntoAndOutOfJunkQueueTraining(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	acc := newAccount(t, s, "ann@example.test")
	mb := func(name string) int64 {
		m, err := s.MailboxByName(ctx, acc.ID, name)
		if err != nil {
			t.Fatal(err)
		}
		return m.ID
	}
	inbox, junk, trash := mb("INBOX"), mb("Junk"), mb("Trash")
	if err := s.Deliver(ctx, Delivery{Data: []byte("Subject: x\r\n\r\nhi\r\n"), Local: []LocalTarget{{AccountID: acc.ID}}}); err != nil {
		t.Fatal(err)
	}
	queue := func() []int {
		t.Helper()
		items, err := s.SpamTrainQueue(ctx, 100)
		if err != nil {
			t.Fatal(err)
		}
		var out []int
		for _, it := range items {
			out = append(out, it.Class)
		}
		return out
	}
	if _, err := s.Copy(ctx, acc.ID, inbox, []uint32{1}, "Archive", true); err != nil {
		t.Fatal(err)
	}
	if q := queue(); len(q) != 0 {
		t.Fatalf("INBOX->Archive queued %v", q)
	}
	if _, err := s.Copy(ctx, acc.ID, mb("Archive"), []uint32{1}, "Junk", true); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Copy(ctx, acc.ID, junk, []uint32{1}, "Trash", false); err != nil { // Junk -> Trash: nothing
		t.Fatal(err)
	}
	if _, err := s.Copy(ctx, acc.ID, junk, []uint32{1}, "INBOX", false); err != nil { // COPY out: ham
		t.Fatal(err)
	}
	if _, err := s.UpdateFlags(ctx, acc.ID, trash, []uint32{1}, FlagsAdd, FlagDeleted, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Expunge(ctx, acc.ID, trash, nil); err != nil { // emptying Trash: nothing
		t.Fatal(err)
	}
	if _, err := s.UpdateFlags(ctx, acc.ID, inbox, []uint32{2}, FlagsAdd, 0, []string{"$Junk"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.UpdateFlags(ctx, acc.ID, inbox, []uint32{2}, FlagsAdd, 0, []string{"$NotJunk"}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Append(ctx, acc.ID, "Sent", []byte("To: bob@x.test\r\n\r\nhi\r\n"), 0, nil, time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := s.UpdateFlags(ctx, acc.ID, inbox, []uint32{2}, FlagsAdd, FlagSeen, nil); err != nil { // read in INBOX: ham
		t.Fatal(err)
	}
	if _, err := s.UpdateFlags(ctx, acc.ID, junk, []uint32{1}, FlagsAdd, FlagSeen, nil); err != nil { // read in Junk: nothing
		t.Fatal(err)
	}
	want := []int{SpamClassSpam, SpamClassHam, SpamClassSpam, SpamClassHam, SpamClassSent, SpamClassHam}
	q := queue()
	if len(q) != len(want) {
		t.Fatalf("queue %v, want %v", q, want)
	}
	for i := range q {
		if q[i] != want[i] {
			t.Fatalf("queue %v, want %v", q, want)
		}
	}

	// Emptying Junk keeps the queued body until it is trained.
	items, _ := s.SpamTrainQueue(ctx, 100)
	if _, err := s.UpdateFlags(ctx, acc.ID, junk, []uint32{1}, FlagsAdd, FlagDeleted, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Expunge(ctx, acc.ID, junk, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Body(ctx, items[0].BodyID); err != nil {
		t.Fatalf("queued body gone: %v", err)
	}
	var done []int64
	for _, it := range items {
		done = append(done, it.ID)
	}
	err := s.TrainSpam(ctx, SpamTraining{
		Deltas: []SpamDelta{{AccountID: acc.ID, Spam: 1, Tokens: []SpamTokenDelta{{Token: 1 << 63, Spam: 1}, {Token: 7, Ham: 2}}},
			{AccountID: HouseholdModel, Spam: 1, Tokens: []SpamTokenDelta{{Token: 7, Spam: 1}}}},
		Trained: []SpamTrainedKey{{AccountID: acc.ID, Key: []byte("k"), Class: SpamClassSpam}},
		Done:    done,
	})
	if err != nil {
		t.Fatal(err)
	}
	if q := queue(); len(q) != 0 {
		t.Fatalf("queue after training %v", q)
	}
	st, err := s.SpamStats(ctx, acc.ID)
	if err != nil || st.Spam != 1 || st.Tokens != 2 || st.Gen != 1 {
		t.Fatalf("stats %+v %v", st, err)
	}
	got := map[uint64][2]uint32{}
	if err := s.SpamTokens(ctx, acc.ID, func(tok uint64, sp, hm uint32) { got[tok] = [2]uint32{sp, hm} }); err != nil {
		t.Fatal(err)
	}
	if got[1<<63] != [2]uint32{1, 0} || got[7] != [2]uint32{0, 2} {
		t.Fatalf("tokens %v", got)
	}
	if c, ok, err := s.SpamTrained(ctx, acc.ID, []byte("k")); err != nil || !ok || c != SpamClassSpam {
		t.Fatalf("trained %d %v %v", c, ok, err)
	}
	// Untraining to zero removes the token; pruning keeps the commonest.
	if err := s.TrainSpam(ctx, SpamTraining{Deltas: []SpamDelta{{AccountID: acc.ID, Tokens: []SpamTokenDelta{{Token: 1 << 63, Spam: -1}}}}}); err != nil {
		t.Fatal(err)
	}
	if n, err := s.PruneSpamTokens(ctx, acc.ID, 0); err != nil || n != 1 {
		t.Fatalf("pruned %d %v", n, err)
	}
	if st, _ := s.SpamStats(ctx, acc.ID); st.Tokens != 0 {
		t.Fatalf("tokens left %+v", st)
	}
}

// The linear model's weights are added up per model and index; a
// confidence never goes below 0.
func TestSpamWeightsAddUp(t *testing.T) {
	s := openTemp(t)
	ctx := context.Background()
	add := func(id int64, ws ...SpamWeightDelta) {
		t.Helper()
		if err := s.TrainSpam(ctx, SpamTraining{Deltas: []SpamDelta{{AccountID: id, Weights: ws}}}); err != nil {
			t.Fatal(err)
		}
	}
	add(HouseholdModel, SpamWeightDelta{Index: 0, W: 0.5, C: 2}, SpamWeightDelta{Index: 1<<18 - 1, W: -1, C: 1})
	add(HouseholdModel, SpamWeightDelta{Index: 0, W: 0.25, C: -5})
	add(7, SpamWeightDelta{Index: 0, W: 9, C: 9})
	got := map[uint32][2]float32{}
	if err := s.SpamWeights(ctx, HouseholdModel, func(i uint32, w, c float32) { got[i] = [2]float32{w, c} }); err != nil {
		t.Fatal(err)
	}
	want := map[uint32][2]float32{0: {0.75, 0}, 1<<18 - 1: {-1, 1}}
	if len(got) != len(want) || got[0] != want[0] || got[1<<18-1] != want[1<<18-1] {
		t.Fatalf("weights %v, want %v", got, want)
	}
	if st, _ := s.SpamModelInfo(ctx, HouseholdModel); st.Gen != 2 {
		t.Errorf("generation %d, want 2 (weights alone change the model)", st.Gen)
	}
}

// drainSpamTraining drops the queued trainings, as the trainer does once
// it has trained them.
func drainSpamTraining(t *testing.T, s *Store) {
	t.Helper()
	items, err := s.SpamTrainQueue(context.Background(), 1000)
	if err != nil {
		t.Fatal(err)
	}
	var done []int64
	for _, it := range items {
		done = append(done, it.ID)
	}
	if err := s.TrainSpam(context.Background(), SpamTraining{Done: done}); err != nil {
		t.Fatal(err)
	}
}

// Reading a few messages trains them as ham; "mark all as read" over a
// folder is not reading and trains nothing, and the batched writes give
// every message exactly its own new flags and keywords.
func TestMarkAllReadTrainsNothing(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	acc := newAccount(t, s, "ann@example.test")
	inbox, err := s.MailboxByName(ctx, acc.ID, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	const n = seenTrainMax + 30
	var uids []uint32
	for i := range n {
		if err := s.Deliver(ctx, Delivery{Data: []byte("Subject: x\r\n\r\nhi\r\n"), Local: []LocalTarget{{AccountID: acc.ID}}}); err != nil {
			t.Fatal(err)
		}
		uids = append(uids, uint32(i+1))
	}
	// Two messages carry a keyword and one is flagged already.
	if _, err := s.UpdateFlags(ctx, acc.ID, inbox.ID, []uint32{3, 7}, FlagsAdd, 0, []string{"$Work"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.UpdateFlags(ctx, acc.ID, inbox.ID, []uint32{7}, FlagsAdd, FlagFlagged, nil); err != nil {
		t.Fatal(err)
	}
	queued := func() int64 {
		t.Helper()
		q, err := s.SpamQueued(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return q
	}
	if _, err := s.UpdateFlags(ctx, acc.ID, inbox.ID, uids[:2], FlagsAdd, FlagSeen, nil); err != nil {
		t.Fatal(err)
	}
	if q := queued(); q != 2 {
		t.Fatalf("reading two messages queued %d trainings", q)
	}
	changed, err := s.UpdateFlags(ctx, acc.ID, inbox.ID, uids, FlagsAdd, FlagSeen, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(changed) != n {
		t.Fatalf("%d changed", len(changed))
	}
	if q := queued(); q != 2 {
		t.Fatalf("mark all as read queued %d more trainings", q-2)
	}
	msgs, err := s.LoadMessages(ctx, inbox.ID, uids, FlagsOnly)
	if err != nil || len(msgs) != n {
		t.Fatalf("%d messages, %v", len(msgs), err)
	}
	for _, m := range msgs {
		want, kw := FlagSeen, ""
		switch m.UID {
		case 3:
			kw = "$Work"
		case 7:
			want, kw = FlagSeen|FlagFlagged, "$Work"
		}
		if m.Flags&^FlagRecent != want || strings.Join(m.Keywords, " ") != kw {
			t.Fatalf("message %d: flags %v keywords %q", m.UID, m.Flags, m.Keywords)
		}
	}
}
