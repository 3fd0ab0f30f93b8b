// Package spam decides whether a message is junk: a tokenizer of the
// message (decoded text and HTML text parts, URL domains, selected header
// fields), a Bayesian classifier over per-account token counts with a
// household model for accounts with too little training, beside it a
// linear model over the same tokens trained online (linear.go: AROW over
// 2^18 hashed weights, stored with the counts), per-account
// reputation (From address and domain, organisational domain,
// authenticated DKIM/SPF identities, sending network, addresses the user
// wrote to) and the box's own signals (SPF, DKIM and DMARC results from the
// Authentication-Results field the box added). Score combines them into
// one score and one verdict: inbox, junk or reject.
//
// It is pure: no I/O, no SQL, no clock. The token counts and linear
// weights are kept by the store (store/spam.go) and loaded into Models by
// the caller (delivery); training turns messages into Deltas that the
// caller applies (Delta.Train for the counts, Delta.TrainLinear for the
// weights, which needs the model as it is). Tokens and reputation keys are
// kept only as 64-bit hashes (Hash), so a model never holds the words of
// anyone's mail.
//
// It is not a network filter: DNSBL lookups, greylisting and DMARC
// policies are applied before DATA by smtpd and guard; this package only
// reads what they recorded in the message.
package spam
