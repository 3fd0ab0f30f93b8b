package migrate

import (
	"maps"
	"slices"
	"strings"

	"boxmail/internal/store"
)

// commonNames maps the lower-cased folder names that providers and clients
// use for the special folders to their RFC 6154 attribute, for servers
// without SPECIAL-USE.
var commonNames = map[string]string{
	"sent": `\Sent`, "sent items": `\Sent`, "sent messages": `\Sent`, "sent mail": `\Sent`,
	"[gmail]/sent mail": `\Sent`, "[google mail]/sent mail": `\Sent`, "inbox/sent": `\Sent`, "gesendet": `\Sent`,
	"gesendete elemente": `\Sent`, "envoyés": `\Sent`, "éléments envoyés": `\Sent`,
	"drafts": `\Drafts`, "draft": `\Drafts`, "[gmail]/drafts": `\Drafts`, "[google mail]/drafts": `\Drafts`,
	"inbox/drafts": `\Drafts`, "entwürfe": `\Drafts`, "brouillons": `\Drafts`,
	"trash": `\Trash`, "deleted items": `\Trash`, "deleted messages": `\Trash`, "bin": `\Trash`,
	"[gmail]/trash": `\Trash`, "[gmail]/bin": `\Trash`, "[google mail]/trash": `\Trash`, "[google mail]/bin": `\Trash`,
	"inbox/trash": `\Trash`, "papierkorb": `\Trash`, "corbeille": `\Trash`,
	"junk": `\Junk`, "junk e-mail": `\Junk`, "junk email": `\Junk`, "junk mail": `\Junk`, "spam": `\Junk`,
	"bulk mail": `\Junk`, "[gmail]/spam": `\Junk`, "[google mail]/spam": `\Junk`, "inbox/junk": `\Junk`, "inbox/spam": `\Junk`,
	"archive": `\Archive`, "archives": `\Archive`, "inbox/archive": `\Archive`,
}

// virtualNames are views of other folders: importing them would copy
// every message a second time.
var virtualNames = map[string]bool{
	"[gmail]/all mail": true, "[google mail]/all mail": true, "[gmail]/starred": true, "[google mail]/starred": true,
	"[gmail]/important": true, "[google mail]/important": true,
}

// NormalizeOldName spells INBOX and its children as the box does.
func NormalizeOldName(name string) string { return store.NormalizeMailboxName(name) }

// Target returns the box mailbox an old folder goes to and its special
// use, or why it is not imported. The order: --map, the server's
// SPECIAL-USE attribute, common names, else the old name with characters
// the box does not allow in names replaced by "_".
func Target(f Folder, boxes []store.Mailbox, overrides map[string]string) (name, specialUse, skip string) {
	for old, n := range overrides {
		if old == f.Name || strings.EqualFold(NormalizeOldName(old), NormalizeOldName(f.Name)) {
			return NormalizeOldName(n), "", ""
		}
	}
	lower := strings.ToLower(f.Name)
	if f.SpecialUse == `\All` || f.SpecialUse == `\Flagged` || virtualNames[lower] {
		return "", "", "a view of other folders (every message is in another folder too)"
	}
	if strings.EqualFold(f.Name, "INBOX") {
		return "INBOX", "", ""
	}
	su := f.SpecialUse
	switch su {
	case `\Sent`, `\Drafts`, `\Trash`, `\Junk`, `\Archive`:
	default:
		su = commonNames[lower]
	}
	if su != "" {
		for _, b := range boxes {
			if b.SpecialUse == su {
				return b.Name, su, ""
			}
		}
		for _, d := range store.DefaultMailboxes() {
			if d.SpecialUse == su {
				return d.Name, su, ""
			}
		}
	}
	return SafeName(f.Name), "", ""
}

// SafeName makes an old folder name (with "/" as the separator) valid on
// the box: characters the box refuses become "_", empty levels are
// dropped.
func SafeName(name string) string {
	var parts []string
	for _, p := range strings.Split(name, "/") {
		p = strings.Map(func(r rune) rune {
			if r < 0x20 || r == 0x7f || r == '*' || r == '%' {
				return '_'
			}
			return r
		}, p)
		if strings.TrimSpace(p) != "" {
			parts = append(parts, p)
		}
	}
	if len(parts) == 0 {
		return "_"
	}
	return NormalizeOldName(strings.Join(parts, "/"))
}

// foldersOf lists the folders of a file source (Maildir, mbox), by name.
func foldersOf(byName map[string]string) []Folder {
	var out []Folder
	for _, n := range slices.Sorted(maps.Keys(byName)) {
		out = append(out, Folder{Name: n})
	}
	return out
}
