package migrate

import (
	"context"
	"strings"

	"boxmail/internal/store"
)

// The spam filter's seed (issue 17): what the user kept at the old
// provider teaches the box's filter. An import queues the training of the
// messages it copied from the old Junk (spam), Sent (the recipients are
// wanted, and the text is ham) and the read messages of INBOX (ham), each
// folder with one statement once the folder is done: the import's
// batches do no training work, and the box's trainer (delivery) takes the
// queue in its own batches. Options.NoTrain turns it off.

// seedLimit bounds the messages of one folder queued per class, newest
// first: a few thousand teach the model what it can learn; more would
// only keep the trainer busy.
const seedLimit = 5000

// seedClasses are the trainings an import into the box mailbox target
// (with special use su) asks for.
func seedClasses(target, su string) []store.ImportTraining {
	switch {
	case su == `\Junk` || strings.EqualFold(target, "Junk") || strings.EqualFold(target, "Spam"):
		return []store.ImportTraining{{Class: store.SpamClassSpam}}
	case su == `\Sent` || strings.EqualFold(target, "Sent"):
		return []store.ImportTraining{{Class: store.SpamClassSent}, {Class: store.SpamClassHam}}
	case strings.EqualFold(target, "INBOX"):
		return []store.ImportTraining{{Class: store.SpamClassHam, SeenOnly: true}}
	}
	return nil
}

// seed queues the training of what this run copied from one old folder.
// A failure is logged, not fatal: the mail is in, only the filter's head
// start is lost.
func (im *importer) seed(ctx context.Context, source, target string) {
	if im.opts.NoTrain {
		return
	}
	su, _ := im.specialUse.Load(target)
	s, _ := su.(string)
	for _, tr := range seedClasses(target, s) {
		tr.AccountID, tr.Source, tr.Since, tr.Limit = im.opts.AccountID, source, im.start.Unix(), seedLimit
		n, err := im.opts.Store.QueueImportTraining(ctx, tr)
		if err != nil {
			im.opts.Logger.Warn("queueing the spam filter's training", "folder", target, "err", err)
			return
		}
		if n > 0 {
			im.opts.Logger.Info("spam filter training queued", "folder", target, "class", tr.Class, "messages", n)
		}
	}
}
