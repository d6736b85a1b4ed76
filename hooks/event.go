// Package hooks tells the administrator's pipeline what happened on the
// server: an event (a file committed whole, a login, a delete, ...) is
// written to a spool on disk and delivered at least once to the
// [[hooks]] actions that want it, a command or a signed HTTP POST.
package hooks

import "time"

// Kinds of event.
const (
	Upload      = "upload"       // a file was committed whole (close_notify seen, renamed in place)
	Download    = "download"     // a file was sent whole
	Delete      = "delete"       // DELE
	Rename      = "rename"       // RNFR + RNTO
	Mkdir       = "mkdir"        // MKD
	Rmdir       = "rmdir"        // RMD
	Login       = "login"        // a login succeeded
	LoginFailed = "login_failed" // a login was refused
)

// Event is one thing that happened, as the actions receive it (JSON on a
// command's standard input or in a POST's body; FTPSD_* variables).
type Event struct {
	// Kind is one of the kinds above.
	Kind string `json:"event"`
	// User is the account (for login_failed: the name the client sent).
	User string `json:"user"`
	// Client is the client's address (the PROXY header's client behind a
	// balancer).
	Client string `json:"client"`
	// Session is the id of the control connection, as in the logs.
	Session uint64 `json:"session"`
	// Path is the file or directory in the user's view ("/in/a.csv");
	// StorePath where it is on the store (a path under storage.root, or
	// the object key). Empty for login events.
	Path      string `json:"path,omitempty"`
	StorePath string `json:"store_path,omitempty"`
	// TargetPath and TargetStorePath are the new name of a rename.
	TargetPath      string `json:"target_path,omitempty"`
	TargetStorePath string `json:"target_store_path,omitempty"`
	// Size is the bytes transferred (upload, download).
	Size int64 `json:"size,omitempty"`
	// SHA256 is the hex SHA-256 of the bytes transferred, computed while
	// they streamed (upload, download of a whole file).
	SHA256 string `json:"sha256,omitempty"`
	// Start and End bound the transfer or the command.
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
	// Reason says why a login failed.
	Reason string `json:"reason,omitempty"`
}

// Sink receives the server's events. Emit must not block on delivery: it
// queues the event (in the spool) and returns.
type Sink interface {
	Emit(Event)
}

// Filter is a Sink that tells beforehand whether it wants an event: a
// transfer nobody wants the event of is spared its SHA-256, which costs
// more than the cipher. The event given has Kind, User and Path.
type Filter interface {
	Wants(Event) bool
}
