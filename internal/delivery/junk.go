package delivery

// SetMailbox makes Commit put the local copies into the named mailbox of
// each recipient instead of INBOX, e.g. "Junk" for a message whose DMARC
// policy asks for quarantine. An account without that mailbox gets the
// copy in its INBOX. Remote copies are not affected.
func (t *Txn) SetMailbox(name string) { t.mailbox = name }
