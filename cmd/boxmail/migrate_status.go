package main

import "errors"

func cmdMigrateStatus(e *env, args []string) error { return errors.New("not yet") }
