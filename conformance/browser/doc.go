// Package browser runs TeleHub's consultation web app in real browsers:
// headless Chromium pages, driven by playwright-core from conformance/node,
// sign in through TeleHub's authorization server and hold a video call
// through the signaling relay, on one node and across two nodes sharing a
// NATS server and a store. Its benchmark runs the relay's load generator
// (package signaling/bench) against TeleHub and the PeerJS server (npm
// "peer"), each in a process of its own: TELEHUB_SIGNALING_BENCH=1.
package browser
