package control

import "sync"

// outbound is the write side of a control connection. mu orders the
// replies on the connection (the lib's and the conn's own) and the
// switches between clear text and TLS (AUTH, CCC), and guards the rest;
// it is the first lock of the order written above Registry.
type outbound struct {
	mu         sync.Mutex
	firstClear bool        // no clear reply written since CCC (see alignForInspector)
	replies    replyFilter // the lib's replies as the client is to read them
}
