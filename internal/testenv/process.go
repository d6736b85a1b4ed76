package testenv

import (
	"os"
	"strconv"
	"strings"
	"syscall"
)

// Alive says whether process pid runs: it exists and is not a zombie
// (a killed child that nobody has reaped yet is dead for a test).
func Alive(pid int) bool {
	if stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat"); err == nil {
		i := strings.LastIndexByte(string(stat), ')')
		return i < 0 || i+2 >= len(stat) || stat[i+2] != 'Z'
	}
	return syscall.Kill(pid, 0) == nil
}
