// Package driver is ftpsd's ftpserverlib driver: it authenticates users,
// gives each session a filesystem confined to the user's home, enforces the
// TLS policy, logs every login and transfer, and runs the lib's servers on
// top of the control listeners.
//
// It is the only package that imports ftpserverlib.
package driver
