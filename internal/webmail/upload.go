package webmail

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Attachments a user adds while writing are kept in the upload area
// (Options.UploadDir) until the message is sent or saved as a draft:
// <account id>-<random id> holds the bytes, the same name + ".meta" the
// file's name and type (two lines). An id names a file only together
// with the account of the session, so nobody can attach another's
// upload. Files older than uploadKeep are removed on the next upload.
//
// Forms with files are multipart/form-data read as a stream
// (readForm): files go to the upload area as they arrive, capped at the
// box's message size (Options.MaxMessageBytes) in total, and the csrf
// field must come before the first file (the form puts it first), so no
// byte of a forged request's file is stored.

const (
	uploadKeep   = 24 * time.Hour
	maxFormText  = 1 << 20 // the text fields of a form together
	maxFormFiles = 50
)

// upload is a file in the upload area.
type upload struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	Type string `json:"type"`
	Size int64  `json:"size"`
}

var uploadIDRe = regexp.MustCompile(`^[0-9a-f]{32}$`)

// errTooBig: the files are over the box's message size.
var errTooBig = errors.New("over the message size limit")

func (s *Server) uploadFile(accountID int64, id string) string {
	return filepath.Join(s.o.UploadDir, strconv.FormatInt(accountID, 10)+"-"+id)
}

// storeUpload writes r (at most limit bytes) as a new upload.
func (s *Server) storeUpload(accountID int64, name, typ string, r io.Reader, limit int64) (upload, error) {
	if err := os.MkdirAll(s.o.UploadDir, 0o700); err != nil {
		return upload{}, err
	}
	s.sweepUploads()
	u := upload{ID: randomHex(16), Name: fileName(name), Type: mediaType(typ)}
	p := s.uploadFile(accountID, u.ID)
	f, err := os.OpenFile(p, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return upload{}, err
	}
	n, err := io.Copy(f, io.LimitReader(r, limit+1))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil && n > limit {
		err = errTooBig
	}
	if err == nil {
		err = os.WriteFile(p+".meta", []byte(u.Name+"\n"+u.Type+"\n"), 0o600)
	}
	if err != nil {
		s.removeUpload(accountID, u.ID)
		return upload{}, err
	}
	u.Size = n
	return u, nil
}

// loadUpload returns an upload of the account and its bytes.
func (s *Server) loadUpload(accountID int64, id string) (upload, []byte, error) {
	if !uploadIDRe.MatchString(id) {
		return upload{}, nil, errNotYours
	}
	p := s.uploadFile(accountID, id)
	meta, err := os.ReadFile(p + ".meta")
	if errors.Is(err, os.ErrNotExist) {
		return upload{}, nil, errNotYours
	} else if err != nil {
		return upload{}, nil, err
	}
	name, typ, _ := strings.Cut(strings.TrimSuffix(string(meta), "\n"), "\n")
	data, err := os.ReadFile(p)
	if err != nil {
		return upload{}, nil, err
	}
	return upload{ID: id, Name: name, Type: typ, Size: int64(len(data))}, data, nil
}

// uploadInfo is loadUpload without the bytes.
func (s *Server) uploadInfo(accountID int64, id string) (upload, error) {
	if !uploadIDRe.MatchString(id) {
		return upload{}, errNotYours
	}
	p := s.uploadFile(accountID, id)
	meta, err := os.ReadFile(p + ".meta")
	fi, serr := os.Stat(p)
	if err != nil || serr != nil {
		return upload{}, errNotYours
	}
	name, typ, _ := strings.Cut(strings.TrimSuffix(string(meta), "\n"), "\n")
	return upload{ID: id, Name: name, Type: typ, Size: fi.Size()}, nil
}

func (s *Server) removeUpload(accountID int64, id string) {
	if !uploadIDRe.MatchString(id) {
		return
	}
	p := s.uploadFile(accountID, id)
	for _, f := range []string{p, p + ".meta"} {
		if err := os.Remove(f); err != nil && !errors.Is(err, os.ErrNotExist) {
			s.log.Warn("webmail: removing an upload", "err", err)
		}
	}
}

// sweepUploads removes uploads older than uploadKeep.
func (s *Server) sweepUploads() {
	ents, err := os.ReadDir(s.o.UploadDir)
	if err != nil {
		return
	}
	old := time.Now().Add(-uploadKeep)
	for _, e := range ents {
		if fi, err := e.Info(); err == nil && fi.ModTime().Before(old) {
			_ = os.Remove(filepath.Join(s.o.UploadDir, e.Name())) // another request may have removed it
		}
	}
}

// form is a posted compose form: its fields and the files that came
// with it (already in the upload area).
type form struct {
	url.Values
	files []upload
}

// readForm reads a POST with or without files and checks its csrf. An
// error is a *errProblem to show (files too big), errBadCSRF, or another
// failure.
func (s *Server) readForm(w http.ResponseWriter, r *http.Request, sess Session) (form, error) {
	// web lets these forms through uncapped (web.mailUpload): the cap is here.
	r.Body = http.MaxBytesReader(w, r.Body, s.o.MaxMessageBytes+maxFormText)
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if ct != "multipart/form-data" {
		if err := r.ParseForm(); err != nil {
			return form{}, err
		}
		if !validCSRF(sess, r.PostForm.Get("csrf")) {
			return form{}, errBadCSRF
		}
		return form{Values: r.PostForm}, nil
	}
	mr, err := r.MultipartReader()
	if err != nil {
		return form{}, err
	}
	f := form{Values: url.Values{}}
	text, total := 0, int64(0)
	for {
		p, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return s.dropFiles(sess, f, err)
		}
		if p.FormName() != "file" {
			v, err := io.ReadAll(io.LimitReader(bufio.NewReader(p), int64(maxFormText-text+1)))
			text += len(v)
			if err != nil || text > maxFormText {
				return s.dropFiles(sess, f, problem("The text of this message is too long."))
			}
			f.Add(p.FormName(), string(v))
			continue
		}
		if !validCSRF(sess, f.Get("csrf")) {
			return s.dropFiles(sess, f, errBadCSRF)
		}
		if p.FileName() == "" {
			continue // an empty file input
		}
		if len(f.files) == maxFormFiles {
			return s.dropFiles(sess, f, problem("At most %d files at once.", maxFormFiles))
		}
		u, err := s.storeUpload(sess.AccountID, p.FileName(), p.Header.Get("Content-Type"), p, s.o.MaxMessageBytes-total)
		if err != nil {
			return s.dropFiles(sess, f, err)
		}
		total += u.Size
		f.files = append(f.files, u)
	}
	if !validCSRF(sess, f.Get("csrf")) {
		return s.dropFiles(sess, f, errBadCSRF)
	}
	return f, nil
}

var errBadCSRF = errors.New("bad csrf token")

// dropFiles removes the files of a form that failed and returns the
// error, a too-big one as a problem to show.
func (s *Server) dropFiles(sess Session, f form, err error) (form, error) {
	for _, u := range f.files {
		s.removeUpload(sess.AccountID, u.ID)
	}
	var mbe *http.MaxBytesError
	if errors.Is(err, errTooBig) || errors.As(err, &mbe) {
		err = problem("The attachments are too big: this box takes messages up to %s.", sizeText(s.o.MaxMessageBytes))
	}
	return form{}, err
}

// formError answers a form that could not be read.
func (s *Server) formError(w http.ResponseWriter, r *http.Request, sess Session, err error) {
	var p *errProblem
	switch {
	case errors.Is(err, errBadCSRF):
		http.Error(w, "This form has expired or did not come from this site; go back, reload the page and try again.", http.StatusForbidden)
	case errors.As(err, &p):
		w.Header().Set("Connection", "close")
		if wantsJSON(r) {
			writeJSON(w, http.StatusRequestEntityTooLarge, map[string]string{"error": p.msg})
			return
		}
		http.Error(w, p.msg, http.StatusRequestEntityTooLarge)
	default:
		s.log.Info("webmail: a form could not be read", "user", sess.Email, "err", err)
		http.Error(w, "The form could not be read.", http.StatusBadRequest)
	}
}

// upload is POST /mail/upload (mail.js, one request per file, with
// progress): it stores the files and answers them as JSON.
func (s *Server) upload(w http.ResponseWriter, r *http.Request, sess Session) {
	f, err := s.readForm(w, r, sess)
	if err != nil {
		s.formError(w, r, sess, err)
		return
	}
	if f.files == nil {
		f.files = []upload{}
	}
	writeJSON(w, http.StatusOK, f.files)
}

func wantsJSON(r *http.Request) bool {
	return strings.Contains(r.Header.Get("Accept"), "application/json")
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v) // a write error means the client left
}

// sizeText is a byte count for people.
func sizeText(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%d KB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}
