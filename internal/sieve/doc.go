// Package sieve parses and runs Sieve mail filters (RFC 5228) with the
// extensions fileinto, copy (RFC 3894), envelope, imap4flags (RFC 5232),
// vacation (RFC 5230), body (RFC 5173, :raw/:text/:content), relational
// (RFC 5231), comparator-i;ascii-numeric (RFC 4790) and date (RFC 5260,
// currentdate only). variables is not supported.
//
// Parse checks syntax, commands, tests, arguments and that every
// extension used is required; its errors are *Error values with a line
// and column. Script.Run evaluates a script against a Message and returns
// the actions (implicit keep included); it does no I/O. Delivery carries
// the actions out, ManageSieve uses Parse to validate uploads.
package sieve
