// Command hashcost prints how long one bcrypt check takes in Go's
// golang.org/x/crypto/bcrypt, the code ftpsd checks passwords with, so that
// bench/run.sh can report it next to the same check through crypt(3).
//
// Usage: hashcost N < "hash\npassword\n"
package main

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"time"

	"golang.org/x/crypto/bcrypt"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "hashcost:", err)
		os.Exit(1)
	}
}

func run() error {
	if len(os.Args) != 2 {
		return fmt.Errorf("usage: hashcost N < hash-and-password")
	}
	n, err := strconv.Atoi(os.Args[1])
	if err != nil || n < 1 {
		return fmt.Errorf("the count must be a positive integer, got %q", os.Args[1])
	}
	in := bufio.NewScanner(os.Stdin)
	var lines []string
	for in.Scan() {
		lines = append(lines, in.Text())
	}
	if len(lines) != 2 {
		return fmt.Errorf("want the hash and the password on two lines of standard input")
	}
	start := time.Now()
	for i := 0; i < n; i++ {
		if err := bcrypt.CompareHashAndPassword([]byte(lines[0]), []byte(lines[1])); err != nil {
			return fmt.Errorf("check %d: %w", i, err)
		}
	}
	fmt.Printf("%.1f\n", float64(time.Since(start).Microseconds())/1000/float64(n))
	return nil
}
