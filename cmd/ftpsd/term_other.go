//go:build !linux

package main

import (
	"errors"
	"os"
)

// isTerminal reports false: the prompt is for Linux; elsewhere use
// -password-file or FTPSD_PASSWORD.
func isTerminal(*os.File) bool { return false }

func noEcho(*os.File) (func(), error) { return nil, errors.New("no terminal support") }
