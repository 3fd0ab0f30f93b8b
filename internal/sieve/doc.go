// Package sieve parses and runs Sieve mail filters (RFC 5228) with the
// extensions fileinto, copy (RFC 3894), envelope, imap4flags (RFC 5232),
// vacation (RFC 5230), body (RFC 5173, :raw/:text/:content), relational
// (RFC 5231), comparator-i;ascii-numeric (RFC 4790) and date (RFC 5260,
// currentdate only). variables is not supported.
//
// Parse checks syntax, commands, tests, arguments and that every
// extension used is required; its errors are *Error values with a line
// and column. Script.Validate is the further check of a script being
// saved (ManageSieve, the web, the CLI): strings that become header
// fields of a sent message are one line of text, vacation :from is one
// address, a :mime reason sets MIME fields only, :matches patterns stay
// under MaxPatternBytes. Script.Run evaluates a script against a Message
// and returns the actions (implicit keep included); it does no I/O, and
// drops what Validate would have refused from scripts stored earlier.
//
// A run is bounded: ParseMessage parses the header only, the body is
// split into MIME parts on the first body test as sub-slices of the
// message (no copy per level), at most RunOptions.MaxBodyBytes of text
// is decoded and compared, :matches is a greedy segment matcher (linear
// for star-separated literals), and every comparison is charged to a
// work budget with a deadline; past either the run fails with ErrBudget
// and the caller keeps the message. Delivery carries the actions out.
package sieve
