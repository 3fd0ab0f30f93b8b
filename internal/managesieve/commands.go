package managesieve

import (
	"errors"
	"fmt"
	"strconv"
	"unicode/utf8"

	"boxmail/internal/sieve"
)

// command is one command's function: done means close the connection.
type command struct {
	authed bool // only in the AUTHENTICATED state
	run    func(c *conn, args []string) (done bool, err error)
}

// commands is every command this server knows (RFC 5804 2).
var commands = map[string]command{
	"CAPABILITY":   {run: (*conn).capability},
	"NOOP":         {run: (*conn).noop},
	"LOGOUT":       {run: (*conn).logout},
	"STARTTLS":     {run: (*conn).starttls},
	"AUTHENTICATE": {run: (*conn).authenticate},
	"LISTSCRIPTS":  {authed: true, run: (*conn).listScripts},
	"GETSCRIPT":    {authed: true, run: (*conn).getScript},
	"CHECKSCRIPT":  {authed: true, run: (*conn).checkScript},
	"PUTSCRIPT":    {authed: true, run: (*conn).putScript},
	"SETACTIVE":    {authed: true, run: (*conn).setActive},
	"DELETESCRIPT": {authed: true, run: (*conn).deleteScript},
	"RENAMESCRIPT": {authed: true, run: (*conn).renameScript},
	"HAVESPACE":    {authed: true, run: (*conn).haveSpace},
}

// run runs one command.
func (c *conn) run(name string, args []string) (done bool, err error) {
	cmd, ok := commands[name]
	switch {
	case !ok:
		return false, &Error{Msg: fmt.Sprintf("unknown command %s", name)}
	case cmd.authed && c.sess == nil:
		return false, &Error{Msg: "authenticate first"}
	}
	return cmd.run(c, args)
}

func wantArgs(args []string, n int, usage string) error {
	if len(args) != n {
		return &Error{Msg: "usage: " + usage}
	}
	return nil
}

func noSuchScript(name string) error {
	return &Error{Code: "NONEXISTENT", Msg: "there is no script " + name}
}

func (c *conn) capability([]string) (bool, error) {
	c.capabilities()
	c.reply("OK", "", "capability completed")
	return false, nil
}

func (c *conn) noop(args []string) (bool, error) {
	if len(args) == 1 {
		c.reply("OK", "TAG "+quote(args[0]), "done")
	} else {
		c.reply("OK", "", "done")
	}
	return false, nil
}

func (c *conn) logout([]string) (bool, error) {
	c.reply("OK", "", "bye")
	return true, nil
}

func (c *conn) listScripts([]string) (bool, error) {
	ctx, cancel := c.opCtx()
	defer cancel()
	l, err := c.sess.Scripts(ctx)
	if err != nil {
		return false, err
	}
	for _, s := range l {
		if s.Active {
			c.line("%s ACTIVE", quote(s.Name))
		} else {
			c.line("%s", quote(s.Name))
		}
	}
	c.reply("OK", "", "listscripts completed")
	return false, nil
}

func (c *conn) getScript(args []string) (bool, error) {
	if err := wantArgs(args, 1, "GETSCRIPT name"); err != nil {
		return false, err
	}
	ctx, cancel := c.opCtx()
	defer cancel()
	content, err := c.sess.Script(ctx, args[0])
	if errors.Is(err, ErrNotFound) {
		return false, noSuchScript(args[0])
	} else if err != nil {
		return false, err
	}
	c.line("{%d}\r\n%s", len(content), content)
	c.reply("OK", "", "getscript completed")
	return false, nil
}

func (c *conn) checkScript(args []string) (bool, error) {
	if err := wantArgs(args, 1, "CHECKSCRIPT script"); err != nil {
		return false, err
	}
	if err := check(args[0]); err != nil {
		return false, err
	}
	c.reply("OK", "", "script is valid")
	return false, nil
}

func (c *conn) putScript(args []string) (bool, error) {
	if err := wantArgs(args, 2, "PUTSCRIPT name script"); err != nil {
		return false, err
	}
	if err := checkName(args[0]); err != nil {
		return false, err
	}
	if err := check(args[1]); err != nil {
		return false, err
	}
	if err := c.checkCount(args[0]); err != nil {
		return false, err
	}
	ctx, cancel := c.opCtx()
	defer cancel()
	if err := c.sess.Put(ctx, args[0], args[1]); err != nil {
		return false, err
	}
	c.log.Info("script stored", "account", c.sess.Owner(), "script", args[0], "size", len(args[1]))
	c.reply("OK", "", "putscript completed")
	return false, nil
}

func (c *conn) setActive(args []string) (bool, error) {
	if err := wantArgs(args, 1, "SETACTIVE name"); err != nil {
		return false, err
	}
	ctx, cancel := c.opCtx()
	defer cancel()
	err := c.sess.SetActive(ctx, args[0])
	if errors.Is(err, ErrNotFound) {
		return false, noSuchScript(args[0])
	} else if err != nil {
		return false, err
	}
	c.log.Info("script activated", "account", c.sess.Owner(), "script", args[0])
	c.reply("OK", "", "setactive completed")
	return false, nil
}

func (c *conn) deleteScript(args []string) (bool, error) {
	if err := wantArgs(args, 1, "DELETESCRIPT name"); err != nil {
		return false, err
	}
	ctx, cancel := c.opCtx()
	defer cancel()
	err := c.sess.Delete(ctx, args[0])
	switch {
	case errors.Is(err, ErrNotFound):
		return false, noSuchScript(args[0])
	case errors.Is(err, ErrScriptActive):
		return false, &Error{Code: "ACTIVE", Msg: "the script is active; deactivate it first"}
	case err != nil:
		return false, err
	}
	c.reply("OK", "", "deletescript completed")
	return false, nil
}

func (c *conn) renameScript(args []string) (bool, error) {
	if err := wantArgs(args, 2, "RENAMESCRIPT old new"); err != nil {
		return false, err
	}
	if err := checkName(args[1]); err != nil {
		return false, err
	}
	ctx, cancel := c.opCtx()
	defer cancel()
	err := c.sess.Rename(ctx, args[0], args[1])
	switch {
	case errors.Is(err, ErrNotFound):
		return false, noSuchScript(args[0])
	case errors.Is(err, ErrExists):
		return false, &Error{Code: "ALREADYEXISTS", Msg: "a script " + args[1] + " exists"}
	case err != nil:
		return false, err
	}
	c.reply("OK", "", "renamescript completed")
	return false, nil
}

func (c *conn) haveSpace(args []string) (bool, error) {
	if err := wantArgs(args, 2, "HAVESPACE name size"); err != nil {
		return false, err
	}
	n, err := strconv.ParseInt(args[1], 10, 64)
	if err != nil || n < 0 {
		return false, &Error{Msg: "size must be a number"}
	}
	if err := checkName(args[0]); err != nil {
		return false, err
	}
	if n > sieve.MaxScriptSize {
		return false, &Error{Code: "QUOTA/MAXSIZE", Msg: fmt.Sprintf("scripts may be at most %d bytes", sieve.MaxScriptSize)}
	}
	if err := c.checkCount(args[0]); err != nil {
		return false, err
	}
	c.reply("OK", "", "putscript would succeed")
	return false, nil
}

// check validates a script; a parse error is returned as RFC 5804 2.6
// wants it, NO with the human-readable reason (line:col).
func check(src string) error {
	if !utf8.ValidString(src) {
		return &Error{Msg: "script is not UTF-8"}
	}
	s, err := sieve.Parse(src)
	if err == nil {
		err = s.Validate()
	}
	if err != nil {
		return &Error{Msg: err.Error()}
	}
	return nil
}

func checkName(n string) error {
	if n == "" || len(n) > 128 || !utf8.ValidString(n) {
		return &Error{Msg: "a script name is 1 to 128 UTF-8 characters"}
	}
	for _, r := range n {
		if r < 0x20 || r == 0x7f || r >= 0x80 && r < 0xa0 || r == 0x2028 || r == 0x2029 {
			return &Error{Msg: "a script name has no control characters"}
		}
	}
	return nil
}

// checkCount refuses a new script beyond Options.MaxScripts; replacing
// one is always allowed.
func (c *conn) checkCount(name string) error {
	ctx, cancel := c.opCtx()
	defer cancel()
	l, err := c.sess.Scripts(ctx)
	if err != nil {
		return err
	}
	for _, s := range l {
		if s.Name == name {
			return nil
		}
	}
	if len(l) >= c.s.o.MaxScripts {
		return &Error{Code: "QUOTA/MAXSCRIPTS", Msg: fmt.Sprintf("at most %d scripts per account", c.s.o.MaxScripts)}
	}
	return nil
}
