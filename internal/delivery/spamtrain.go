package delivery

import (
	"context"
	"errors"
	"strconv"
	"time"

	"boxmail/internal/spam"
	"boxmail/internal/store"
)

// Training bounds: a batch takes at most trainBatch queued messages and
// stops adding messages once its deltas hold trainTokens token changes,
// so one store transaction stays short (the writer serves deliveries
// between batches) and memory stays bounded.
const (
	trainBatch   = 64
	trainTokens  = 8000
	trainPoll    = 2 * time.Second
	trainRetryIn = 30 * time.Second
)

// TrainInput is one message to train.
type TrainInput struct {
	AccountID int64
	Data      []byte
	Class     int   // store.SpamClassSpam, SpamClassHam or SpamClassSent
	QueueID   int64 // the spam_train_queue row done with it; 0: none
}

// batchTraining gathers one batch's deltas.
type batchTraining struct {
	deltas  map[int64]*spam.Delta // by model
	trained []store.SpamTrainedKey
	done    []int64
	classes map[string]int // account/key -> class trained in this batch
	tokens  int
}

func newBatchTraining() *batchTraining {
	return &batchTraining{deltas: map[int64]*spam.Delta{}, classes: map[string]int{}}
}

func (b *batchTraining) delta(id int64) *spam.Delta {
	d := b.deltas[id]
	if d == nil {
		d = spam.NewDelta()
		b.deltas[id] = d
	}
	return d
}

// add trains one message into the batch: a message already trained the
// same way counts once; one trained the other way is untrained first.
func (f *spamFilter) add(ctx context.Context, b *batchTraining, in TrainInput) error {
	if in.QueueID != 0 {
		b.done = append(b.done, in.QueueID)
	}
	key := messageKey(in.Data)
	ck := strconv.FormatInt(in.AccountID, 10) + "/" + string(key)
	prev, ok := b.classes[ck]
	if !ok {
		var err error
		if prev, ok, err = f.st.SpamTrained(ctx, in.AccountID, key); err != nil {
			return err
		}
	}
	if ok && prev == in.Class {
		return nil
	}
	feat := spam.Parse(in.Data, f.host)
	acct, hh := b.delta(in.AccountID), b.delta(store.HouseholdModel)
	before := len(acct.Tokens) + len(hh.Tokens)
	if in.Class == store.SpamClassSent {
		acct.Wrote(feat.Recipients)
	} else {
		if ok && prev != store.SpamClassSent {
			acct.Train(feat, prev == store.SpamClassSpam, -1)
			hh.Train(feat, prev == store.SpamClassSpam, -1)
		}
		acct.Train(feat, in.Class == store.SpamClassSpam, 1)
		hh.Train(feat, in.Class == store.SpamClassSpam, 1)
		if err := f.trainLinear(ctx, in.AccountID, acct, feat, in.Class == store.SpamClassSpam); err != nil {
			return err
		}
		if err := f.trainLinear(ctx, store.HouseholdModel, hh, feat, in.Class == store.SpamClassSpam); err != nil {
			return err
		}
	}
	b.tokens += len(acct.Tokens) + len(hh.Tokens) - before
	if f.rspamd != nil && in.Class != store.SpamClassSent {
		f.rspamd.forward(in.Data, in.Class == store.SpamClassSpam)
	}
	b.classes[ck] = in.Class
	b.trained = append(b.trained, store.SpamTrainedKey{AccountID: in.AccountID, Key: key, Class: in.Class})
	return nil
}

// trainLinear adds to d the linear model's update for one message, from
// the model as it is (loaded when not in memory) plus d. A message
// trained the other way before needs no untraining: the update moves it
// to the new side.
func (f *spamFilter) trainLinear(ctx context.Context, id int64, d *spam.Delta, feat *spam.Features, isSpam bool) error {
	cm, err := f.model(ctx, id)
	if err != nil {
		return err
	}
	cm.mu.RLock()
	defer cm.mu.RUnlock()
	d.TrainLinear(cm.m, feat, isSpam)
	return nil
}

// commit writes a batch in one transaction and applies it to the models
// in memory, pruning models over their cap.
func (f *spamFilter) commit(ctx context.Context, b *batchTraining) error {
	tr := store.SpamTraining{Trained: b.trained, Done: b.done}
	for id, d := range b.deltas {
		if d.Empty() {
			continue
		}
		sd := store.SpamDelta{AccountID: id, Spam: d.Spam, Ham: d.Ham, Tokens: make([]store.SpamTokenDelta, 0, len(d.Tokens))}
		for tok, td := range d.Tokens {
			sd.Tokens = append(sd.Tokens, store.SpamTokenDelta{Token: tok, Spam: td.Spam, Ham: td.Ham})
		}
		for i, w := range d.Weights {
			sd.Weights = append(sd.Weights, store.SpamWeightDelta{Index: i, W: w, C: d.Conf[i]})
		}
		tr.Deltas = append(tr.Deltas, sd)
	}
	if len(tr.Deltas) == 0 && len(tr.Done) == 0 && len(tr.Trained) == 0 {
		return nil
	}
	if err := f.st.TrainSpam(ctx, tr); err != nil {
		return err
	}
	for id, d := range b.deltas {
		if d.Empty() {
			continue
		}
		if n, err := f.st.PruneSpamTokens(ctx, id, int64(f.o.MaxTokens)); err != nil {
			f.log.Warn("pruning spam model", "model", id, "err", err)
		} else if n > 0 {
			f.log.Info("pruned spam model", "model", id, "tokens", n)
		}
		f.applyCached(ctx, id, d)
	}
	return nil
}

// applyCached applies a committed delta to a model in memory, if loaded.
func (f *spamFilter) applyCached(ctx context.Context, id int64, d *spam.Delta) {
	f.mu.Lock()
	cm := f.models[id]
	f.mu.Unlock()
	if cm == nil {
		return
	}
	info, err := f.st.SpamModelInfo(ctx, id)
	cm.mu.Lock()
	before := cm.m.Cost()
	cm.m.Apply(d)
	cm.m.PruneTo(f.o.MaxTokens)
	after := cm.m.Cost()
	cm.mu.Unlock()
	f.mu.Lock()
	defer f.mu.Unlock()
	f.tokens += after - before
	if err == nil {
		cm.gen = info.Gen
	} else {
		cm.checked = time.Time{} // compare at the next use
	}
	f.evict(id)
}

// train trains the inputs in batches.
func (f *spamFilter) train(ctx context.Context, ins []TrainInput) error {
	f.trainMu.Lock()
	defer f.trainMu.Unlock()
	b := newBatchTraining()
	for _, in := range ins {
		if err := f.add(ctx, b, in); err != nil {
			return err
		}
		if b.tokens >= trainTokens {
			if err := f.commit(ctx, b); err != nil {
				return err
			}
			b = newBatchTraining()
		}
	}
	return f.commit(ctx, b)
}

// TrainSpam trains messages for an account (boxmail spam train).
func (d *Deliverer) TrainSpam(ctx context.Context, ins []TrainInput) error {
	return d.spamFilter().train(ctx, ins)
}

// trainQueued trains one batch from the store's queue and reports how
// many queue rows it took. Bodies are read one at a time and dropped once
// tokenized, so a batch of large messages holds one in memory.
func (f *spamFilter) trainQueued(ctx context.Context) (int, error) {
	items, err := f.st.SpamTrainQueue(ctx, trainBatch)
	if err != nil || len(items) == 0 {
		return 0, err
	}
	f.trainMu.Lock()
	defer f.trainMu.Unlock()
	b := newBatchTraining()
	for _, it := range items {
		data, err := f.st.Body(ctx, it.BodyID)
		if errors.Is(err, store.ErrNotFound) {
			b.done = append(b.done, it.ID)
			continue
		} else if err != nil {
			return 0, err
		}
		if err := f.add(ctx, b, TrainInput{AccountID: it.AccountID, Data: data, Class: it.Class, QueueID: it.ID}); err != nil {
			return 0, err
		}
		if b.tokens >= trainTokens {
			if err := f.commit(ctx, b); err != nil {
				return 0, err
			}
			b = newBatchTraining()
		}
	}
	return len(items), f.commit(ctx, b)
}

// startTrainer runs the trainer until stopTrainer.
func (f *spamFilter) startTrainer() {
	if f.rspamd != nil {
		f.rspamd.start()
	}
	f.stop, f.done = make(chan struct{}), make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-f.stop
		cancel()
	}()
	go func() {
		defer close(f.done)
		for {
			n, err := f.trainQueued(ctx)
			wait := trainPoll
			if err != nil {
				if ctx.Err() == nil {
					f.log.Error("spam training", "err", err)
				}
				wait = trainRetryIn
			} else if n == trainBatch {
				wait = 0
			}
			select {
			case <-f.stop:
				return
			case <-f.kick:
			case <-time.After(wait):
			}
		}
	}()
}

// stopTrainer stops the trainer and waits for its batch in progress.
func (f *spamFilter) stopTrainer() {
	if f.rspamd != nil {
		f.rspamd.stopForwarder()
	}
	if f.stop == nil {
		return
	}
	close(f.stop)
	<-f.done
}
