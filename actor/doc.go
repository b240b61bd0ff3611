// Package actor is the small runtime a shard runs on: one goroutine that
// owns some state and receives everything it does as messages.
//
// An Actor has a bounded mailbox, a run loop, an optional periodic tick
// (time arrives as a message, never as a second goroutine touching the
// state) and a stop. The state itself is invisible to this package: the
// handler closure owns it, and only the run loop ever calls the handler.
//
// Sends never hang after shutdown: Send selects on the stop signal and
// returns ErrStopped, and anyone waiting for a reply can select on Done,
// which closes once the run loop has returned and will touch nothing again.
package actor
