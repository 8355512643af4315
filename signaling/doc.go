// Package signaling is TeleHub's WebRTC signaling relay for video sessions:
// the WebSocket endpoint through which the browsers (or any WebRTC peer) of
// one consultation find each other and exchange their session descriptions
// and ICE candidates, plus the endpoint that hands out TURN credentials.
// Media never flows through TeleHub: the peers connect to each other
// directly, or through a TURN server.
//
// # Rooms
//
// A room belongs to one Encounter (the FHIR record of the session). A client
// names it as "Encounter/ID", or as "Appointment/ID" for the Encounter that
// fulfils that Appointment (Encounter.appointment). Joining needs an access
// token that may read that Encounter (scopes, and the patient compartment
// for patient/ scopes) whose fhirUser is the Encounter's subject or one of
// its participant.individual.
//
// The room's size follows the Encounter: when one of Encounter.type's codings
// has the code "e-staff", "rcp" or "tele-expertise" (whatever its system) the
// room is a mesh of up to 8 participants (multidisciplinary meetings);
// otherwise it is a one-to-one room of 2 (teleconsultation, telecare).
//
// The first join moves the Encounter to status "in-progress" and sets
// period.start; the end of the session (the last participant leaves, or a
// practitioner sends "end") moves it to "finished" and sets period.end. Both
// go through the in-process FHIR API. A room no practitioner has been in yet
// is a waiting room: the patient who leaves it does not end the session. Every join and every leave is audited;
// a join whose audit record cannot be written is refused (fail-closed).
//
// # Protocol
//
// GET /signaling upgrades to a WebSocket. Every message, either way, is one
// JSON object in a text frame, at most Options.MaxMessageBytes (64 KiB by
// default), with a "type":
//
//	client → relay
//	  {"type":"join","room":"Encounter/42","token":"<access token>","name":"Dr Martin"}
//	      first message; "token" may instead be the access_token query
//	      parameter of the WebSocket URL (browsers cannot set headers on a
//	      WebSocket). "resume":"<resume token>" takes back the place of a peer
//	      whose connection dropped less than 60 s ago (same user).
//	  {"type":"offer","to":"<peer>","sdp":{…}}
//	  {"type":"answer","to":"<peer>","sdp":{…}}
//	  {"type":"candidate","to":"<peer>","candidate":{…}}
//	      relayed to the peer "to" with "from" added; every other member is
//	      left alone. "sdp" and "candidate" are passed through untouched.
//	  {"type":"leave"}      leave the room for good (the relay closes the socket)
//	  {"type":"end"}        practitioners only: end the session for everyone
//	  {"type":"ping"}       answered {"type":"pong"}
//
//	relay → client
//	  {"type":"joined","room":"Encounter/42","peer":"<your id>","resume":"<token>",
//	   "mode":"one-to-one"|"mesh","max":2,"peers":[{"peer":…,"user":…,"name":…,"role":…}]}
//	  {"type":"presence","event":"join"|"leave"|"away"|"back","peer":{…}}
//	      "away": the peer's connection dropped, it may come back within 60 s.
//	      By convention the peer that joins later makes the offers.
//	  {"type":"offer"|"answer"|"candidate","from":"<peer>",…}
//	  {"type":"ended","by":"<peer>"}   the session is over; the socket closes
//	  {"type":"pong"}
//	  {"type":"error","code":"…","message":"…"}
//
// Errors with these codes close the connection (WebSocket close code 1008,
// or 1009 for "too_big"): "malformed", "too_big", "unknown_type",
// "join_first", "already_joined", "unauthorized", "forbidden", "not_found",
// "room_full", "session_ended", "rate_limited", "bad_message",
// "audit_unavailable", "unavailable". The code "peer_gone" (a message to a
// peer no longer in the room) leaves it open. A connection that sends more
// than Options.RateLimit messages a second (over a burst of
// Options.RateBurst) is closed: signaling is a few dozen messages per call.
//
// The relay pings every connection (WebSocket ping frames, which browsers
// answer by themselves) every Options.Heartbeat; a connection that does not
// answer is dropped, and its peer shown "away" to the others until it
// resumes or the 60 s resume window ends.
//
// GET /signaling/turn, with the access token as a bearer token (or the
// access_token query parameter), answers the ICE servers to use, with
// time-limited TURN credentials in the TURN REST API scheme of coturn's
// use-auth-secret: username "<expiry unix time>:<user>", credential
// base64(HMAC-SHA1(secret, username)):
//
//	{"username":"1767225600:u-12","credential":"…","password":"…","ttl":86400,
//	 "uris":["turn:turn.example:3478"],"iceServers":[{"urls":[…]},…]}
//
// # Several nodes
//
// With a NATS connection (Options.NATS), relays on several TeleHub nodes
// form one: each node subscribes to the subject of every room it has members
// in (telehub.signaling.room.<id>) and shares its members' presence there;
// a node that opens a room asks the others for their members. Messages for a
// peer held by another node go to that peer's subject
// (telehub.signaling.peer.<peer>), which only the holding node subscribes
// to: one NATS message per relayed message, or one for several that a
// connection relays to the same peer at once (a batch: a zero byte, then
// each message preceded by its length as an unsigned varint; every node of
// a cluster must run a relay that reads them). A peer may resume on another
// node than the one it left. Nodes restate
// their members every 20 s, and a member not restated for a minute (its node
// died) is dropped. A room's capacity is checked against the members a node
// knows, so two joins racing on two nodes may overfill a room by one.
package signaling
