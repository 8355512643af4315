// Package events publishes TeleHub's resource changes on NATS and delivers
// FHIR R4 Subscriptions from them.
//
// Three parts, wired in this order:
//
//   - Bus (bus.go) is the connection to NATS: an embedded nats-server with
//     JetStream (its store under the data directory) or an external
//     cluster. It owns the change stream, TELEHUB_CHANGES, on the subjects
//     telehub.change.<Type>.
//   - Publish (publish.go) decorates a store.Store: after each successful
//     Commit it publishes one Event per write, in order, with JetStream
//     acknowledgements. A rolled-back Commit publishes nothing.
//   - Subscriptions (manager.go) consumes the stream: it activates the
//     Subscription resources clients create (or sets them to error), and
//     delivers each matching change over rest-hook or websocket through one
//     JetStream durable consumer per Subscription, acknowledged only after
//     delivery, so nothing is lost across restarts.
//
// Wiring, in a server's start-up:
//
//	bus, err := events.OpenBus(ctx, events.BusOptions{URL: natsURL, DataDir: filepath.Join(dataDir, "nats"), Logger: log})
//	st = events.Publish(st, bus) // every component that writes gets this store
//	api, err := fhir.New(fhir.Options{Store: st, BaseURL: base, …})
//	subs, err := events.NewSubscriptions(ctx, events.SubscriptionOptions{
//		Bus: bus, FHIR: api, Store: st, BaseURL: base, Consent: policy, Logger: log})
//	subs.Mount(e, authenticator) // GET /subscriptions/websocket
//
// and at shutdown, in this order: stop serving HTTP, subs.Close(), stop
// the other writers, bus.Close() (it publishes what waits, then stops the
// embedded server), then close the store.
//
// Guarantees and limits are spelled out where they are implemented: what a
// crash can lose between commit and publish (publish.go), how delivery
// failures turn a Subscription to error and back (deliver.go), and what the
// websocket binding promises (websocket.go).
package events
