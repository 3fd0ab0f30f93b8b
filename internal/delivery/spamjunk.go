package delivery

import (
	"context"
	"errors"
	"mime"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"boxmail/internal/mailmsg"
	"boxmail/internal/store"
)

// What the spam filter caught, as the web pages show it, and the release
// of a message from Junk: a move to INBOX through the store, which queues
// its training as ham (store/spam.go), as a move by a mail app would.

// Caught is a message the filter put in Junk.
type Caught struct {
	MailboxID     int64
	UID           uint32
	Date          time.Time
	From, Subject string // decoded, at most 100 characters
	Score         string // X-Spam-Score, "" when unreadable
}

// ErrNotInJunk is returned by ReleaseFromJunk for a message that is not
// in one of the account's Junk mailboxes.
var ErrNotInJunk = errors.New("no such message in Junk")

// CaughtSince returns how many messages the filter put in an account's
// Junk since a time, and the newest limit of them.
func (d *Deliverer) CaughtSince(ctx context.Context, accountID int64, since time.Time, limit int) (int, []Caught, error) {
	n, list, err := d.st.CaughtSince(ctx, accountID, since, limit)
	if err != nil {
		return 0, nil, err
	}
	out := make([]Caught, 0, len(list))
	for _, jm := range list {
		c := Caught{MailboxID: jm.MailboxID, UID: jm.UID, Date: jm.Date}
		for f := range mailmsg.Fields(jm.Header) {
			v := strings.TrimSpace(string(mailmsg.Unfold(f.Value)))
			switch {
			case f.Is("From") && c.From == "":
				c.From = shortField(v)
			case f.Is("Subject") && c.Subject == "":
				c.Subject = shortField(v)
			case f.Is("X-Spam-Score") && c.Score == "":
				if _, err := strconv.ParseFloat(v, 64); err == nil {
					c.Score = v
				}
			}
		}
		out = append(out, c)
	}
	return n, out, nil
}

// shortField decodes a header field's encoded words and keeps its first
// 100 characters of valid UTF-8.
func shortField(v string) string {
	if d, err := new(mime.WordDecoder).DecodeHeader(v); err == nil {
		v = d
	}
	v = strings.ToValidUTF8(v, "?")
	if utf8.RuneCountInString(v) > 100 {
		v = string([]rune(v)[:100]) + "…"
	}
	return v
}

// ReleaseFromJunk moves a message of one of the account's Junk mailboxes
// to its INBOX; the store queues its training as ham. A mailbox of
// another account, or one that is not Junk, or a UID it does not hold is
// ErrNotInJunk.
func (d *Deliverer) ReleaseFromJunk(ctx context.Context, accountID, mailboxID int64, uid uint32) error {
	mb, err := d.st.MailboxByID(ctx, accountID, mailboxID)
	if errors.Is(err, store.ErrNotFound) || err == nil && (mb.AccountID != accountID || !mb.IsJunk()) {
		return ErrNotInJunk
	} else if err != nil {
		return err
	}
	res, err := d.st.Copy(ctx, accountID, mailboxID, []uint32{uid}, "INBOX", true)
	if errors.Is(err, store.ErrNotFound) {
		return ErrNotInJunk
	} else if err != nil {
		return err
	}
	if len(res.SourceUIDs) == 0 {
		return ErrNotInJunk
	}
	d.log.Info("released from Junk", "account", accountID, "mailbox", mailboxID, "uid", uid)
	return nil
}
