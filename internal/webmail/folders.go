package webmail

// Folders: create, rename and delete, at /mail/folders. As Roundcube
// does with its default "protect_default_folders" setting, INBOX and the
// special-use folders (Drafts, Sent, Junk, Trash, Archive) can be
// neither renamed nor deleted. Deleting another folder takes its
// messages and its subfolders with it (as Roundcube's delete does) and
// needs a ticked confirmation (the module also asks); renaming keeps the
// folder's place (its parent) and takes its subfolders along. "/" is the
// hierarchy separator: a new name cannot hold one; a new folder's
// parent is chosen from the list.

import (
	"errors"
	"net/http"
	"slices"
	"strings"

	"boxmail/internal/store"
)

// foldersData is the folders page.
type foldersData struct {
	Folders []folderRow
}

type folderRow struct {
	folder
	Leaf      string // the last part of the name
	Protected bool   // INBOX or special use: no rename, no delete
}

// protected tells whether a folder may not be renamed or deleted.
func protected(mb store.Mailbox) bool { return mb.Name == "INBOX" || mb.SpecialUse != "" }

// foldersPage is GET /mail/folders.
func (s *Server) foldersPage(w http.ResponseWriter, r *http.Request, sess Session) {
	fs, err := s.folders(r.Context(), sess.AccountID, 0)
	if err != nil {
		s.fail(w, r, sess, err)
		return
	}
	var d foldersData
	for _, f := range fs {
		i := strings.LastIndexByte(f.Name, '/')
		d.Folders = append(d.Folders, folderRow{folder: f, Leaf: f.Name[i+1:],
			Protected: f.Name == "INBOX" || f.Special != ""})
	}
	s.render(w, r, http.StatusOK, "folders", page{Title: "Folders", Email: sess.Email, CSRF: sess.CSRF, Folders: fs, Data: d,
		Note: orgNotes[r.URL.Query().Get("note")]})
}

// folderAct is POST /mail/folders: op create (name, parent: a folder
// ID or empty), rename (box, name) or delete (box, confirm).
func (s *Server) folderAct(w http.ResponseWriter, r *http.Request, sess Session) {
	note, err := s.folderChange(r, sess)
	var bad *badAction
	switch {
	case errors.As(err, &bad):
		http.Error(w, bad.msg, http.StatusBadRequest)
		return
	case err != nil:
		s.fail(w, r, sess, err)
		return
	}
	http.Redirect(w, r, "/mail/folders?note="+note, http.StatusSeeOther)
}

func (s *Server) folderChange(r *http.Request, sess Session) (string, error) {
	ctx, st := r.Context(), s.o.Store
	name := strings.TrimSpace(r.PostFormValue("name"))
	op := r.PostFormValue("op")
	if op == "create" || op == "rename" {
		if name == "" || strings.Contains(name, "/") || len(name) > 200 || strings.ContainsFunc(name, func(c rune) bool { return c < 0x20 || c == 0x7f || c == '*' || c == '%' }) {
			return "", &badAction{"A folder's name must be given, without / * % or control characters, at most 200 bytes."}
		}
	}
	switch op {
	case "create":
		full := name
		if p := r.PostFormValue("parent"); p != "" {
			parent, err := s.mailbox(r, sess.AccountID, p)
			if err != nil {
				return "", err
			}
			full = parent.Name + "/" + name
		}
		return "folder-created", storeFolderErr(st.CreateMailbox(ctx, sess.AccountID, full, ""))
	case "rename":
		mb, err := s.mailbox(r, sess.AccountID, r.PostFormValue("box"))
		if err != nil {
			return "", err
		}
		if protected(mb) {
			return "", &badAction{"INBOX and the special folders (Sent, Drafts, Junk, Trash, Archive) keep their names."}
		}
		to := name
		if i := strings.LastIndexByte(mb.Name, '/'); i >= 0 {
			to = mb.Name[:i+1] + name
		}
		return "folder-renamed", storeFolderErr(st.RenameMailbox(ctx, sess.AccountID, mb.Name, to))
	case "delete":
		mb, err := s.mailbox(r, sess.AccountID, r.PostFormValue("box"))
		if err != nil {
			return "", err
		}
		if protected(mb) {
			return "", &badAction{"INBOX and the special folders (Sent, Drafts, Junk, Trash, Archive) cannot be deleted."}
		}
		if r.PostFormValue("confirm") == "" {
			return "", &badAction{"Tick the box to confirm that the folder and its messages are to be deleted."}
		}
		return "folder-deleted", s.deleteTree(r, sess, mb)
	}
	return "", &badAction{"Unknown action."}
}

// deleteTree deletes a folder and its subfolders, deepest first; a
// protected subfolder stops it before anything is deleted.
func (s *Server) deleteTree(r *http.Request, sess Session, mb store.Mailbox) error {
	all, err := s.o.Store.Mailboxes(r.Context(), sess.AccountID)
	if err != nil {
		return err
	}
	var tree []store.Mailbox
	for _, m := range all {
		if m.ID == mb.ID || strings.HasPrefix(m.Name, mb.Name+"/") {
			if protected(m) {
				return &badAction{"The folder holds a special folder (" + m.Name + "); move that one out first."}
			}
			tree = append(tree, m)
		}
	}
	slices.SortFunc(tree, func(a, b store.Mailbox) int { return strings.Count(b.Name, "/") - strings.Count(a.Name, "/") })
	for _, m := range tree {
		if err := s.o.Store.DeleteMailbox(r.Context(), sess.AccountID, m.Name); err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
	}
	s.log.Info("webmail folder deleted", "user", sess.Email, "folders", len(tree))
	return nil
}

// storeFolderErr turns the store's refusals into text for the user.
func storeFolderErr(err error) error {
	switch {
	case errors.Is(err, store.ErrExists):
		return &badAction{"There is a folder of that name already."}
	case errors.Is(err, store.ErrInvalid):
		return &badAction{"That name cannot be used for a folder."}
	}
	return err
}
