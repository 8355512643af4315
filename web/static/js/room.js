// The video room: one RTCPeerConnection per other participant (a mesh),
// signaled through TeleHub's relay (/signaling, protocol in package
// signaling). The participant who joins later makes the offers; the chat
// runs on an RTCDataChannel of each connection.

const resumeWindowMs = 55000;

export class Room extends EventTarget {
  constructor(session, room, name) {
    super();
    this.session = session;
    this.room = room; // "Encounter/ID" or "Appointment/ID"
    this.name = name;
    this.peers = new Map(); // peer id -> {info, pc, chat, pending, video}
    this.self = null;
    this.resume = null;
    this.iceServers = [];
    this.localStream = null;
    this.cameraTrack = null;
    this.screenTrack = null;
    this.closed = false;
  }

  async start() {
    this.iceServers = await this.fetchICEServers();
    this.localStream = await navigator.mediaDevices.getUserMedia({ video: true, audio: true });
    this.cameraTrack = this.localStream.getVideoTracks()[0] || null;
    this.emit('local', { stream: this.localStream });
    this.connect();
  }

  async fetchICEServers() {
    try {
      const res = await fetch(location.origin + '/signaling/turn', { headers: { Authorization: 'Bearer ' + this.session.accessToken } });
      if (res.ok) return (await res.json()).iceServers || [];
    } catch { /* no TURN: host and STUN candidates only */ }
    return [];
  }

  emit(type, detail) { this.dispatchEvent(new CustomEvent(type, { detail })); }

  connect() {
    const url = location.origin.replace(/^http/, 'ws') + '/signaling';
    const ws = new WebSocket(url);
    this.ws = ws;
    ws.onopen = () => {
      const join = { type: 'join', room: this.room, token: this.session.accessToken, name: this.name };
      if (this.resume) join.resume = this.resume;
      ws.send(JSON.stringify(join));
      this.pingTimer = setInterval(() => this.send({ type: 'ping' }), 20000);
    };
    ws.onmessage = (ev) => {
      let msg;
      try { msg = JSON.parse(ev.data); } catch { return; }
      this.onMessage(msg).catch((err) => this.emit('error', { message: String(err.message || err) }));
    };
    ws.onclose = (ev) => {
      clearInterval(this.pingTimer);
      if (this.closed) return;
      // A dropped connection (not a refusal): come back with the resume token.
      if (this.resume && ev.code !== 1008 && ev.code !== 1000 && Date.now() - this.droppedAt() < resumeWindowMs) {
        this.emit('state', { text: 'Connection lost; reconnecting…' });
        setTimeout(() => this.connect(), 1000);
        return;
      }
      this.closed = true;
      this.emit('closed', { code: ev.code, reason: ev.reason });
    };
  }

  droppedAt() {
    if (!this.firstDrop) this.firstDrop = Date.now();
    return this.firstDrop;
  }

  send(msg) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(msg));
  }

  async onMessage(msg) {
    switch (msg.type) {
      case 'joined': {
        this.firstDrop = 0;
        const resumed = this.self === msg.peer;
        this.self = msg.peer;
        this.resume = msg.resume;
        this.encounter = msg.room;
        this.emit('joined', msg);
        if (resumed) for (const id of [...this.peers.keys()]) this.dropPeer(id);
        // Joining later, we make the offers.
        for (const info of msg.peers) if (!info.away) await this.call(info);
        break;
      }
      case 'presence':
        if (msg.event === 'join' || msg.event === 'back') {
          this.dropPeer(msg.peer.peer);
          this.addPeer(msg.peer);
          this.emit('state', { text: (msg.peer.name || 'A participant') + ' joined' });
        } else if (msg.event === 'leave') {
          this.dropPeer(msg.peer.peer);
          this.emit('state', { text: (msg.peer.name || 'A participant') + ' left' });
        } else if (msg.event === 'away') {
          this.emit('state', { text: (msg.peer.name || 'A participant') + ' lost the connection' });
        }
        break;
      case 'offer': {
        const p = this.peers.get(msg.from) || this.addPeer({ peer: msg.from });
        await p.pc.setRemoteDescription(msg.sdp);
        await this.flushCandidates(p);
        await p.pc.setLocalDescription(await p.pc.createAnswer());
        this.send({ type: 'answer', to: msg.from, sdp: p.pc.localDescription });
        break;
      }
      case 'answer': {
        const p = this.peers.get(msg.from);
        if (!p) return;
        await p.pc.setRemoteDescription(msg.sdp);
        await this.flushCandidates(p);
        break;
      }
      case 'candidate': {
        const p = this.peers.get(msg.from);
        if (!p || !msg.candidate) return;
        if (!p.pc.remoteDescription) p.pending.push(msg.candidate);
        else await p.pc.addIceCandidate(msg.candidate);
        break;
      }
      case 'ended':
        this.closed = true;
        this.teardown();
        this.emit('ended', msg);
        break;
      case 'error':
        this.emit('error', { message: 'Signaling: ' + msg.message, code: msg.code });
        break;
    }
  }

  async flushCandidates(p) {
    for (const c of p.pending.splice(0)) await p.pc.addIceCandidate(c);
  }

  addPeer(info) {
    const pc = new RTCPeerConnection({ iceServers: this.iceServers });
    const p = { info, pc, chat: null, pending: [], stream: new MediaStream() };
    this.peers.set(info.peer, p);
    for (const track of this.localStream.getTracks()) {
      const t = track.kind === 'video' && this.screenTrack ? this.screenTrack : track;
      pc.addTrack(t, this.localStream);
    }
    pc.onicecandidate = (ev) => { if (ev.candidate) this.send({ type: 'candidate', to: info.peer, candidate: ev.candidate }); };
    pc.ontrack = (ev) => {
      p.stream.addTrack(ev.track);
      this.emit('remote', { peer: info.peer, info: p.info, stream: p.stream });
    };
    pc.onconnectionstatechange = () => this.emit('peerstate', { peer: info.peer, info: p.info, state: pc.connectionState });
    pc.ondatachannel = (ev) => this.bindChat(p, ev.channel);
    return p;
  }

  async call(info) {
    const p = this.addPeer(info);
    this.bindChat(p, p.pc.createDataChannel('chat'));
    await p.pc.setLocalDescription(await p.pc.createOffer());
    this.send({ type: 'offer', to: info.peer, sdp: p.pc.localDescription });
  }

  bindChat(p, channel) {
    p.chat = channel;
    channel.onmessage = (ev) => {
      let m;
      try { m = JSON.parse(ev.data); } catch { return; }
      if (typeof m.text === 'string') this.emit('chat', { from: p.info.name || 'Participant', text: m.text.slice(0, 2000), mine: false });
    };
  }

  sendChat(text) {
    let sent = 0;
    for (const p of this.peers.values()) {
      if (p.chat && p.chat.readyState === 'open') { p.chat.send(JSON.stringify({ text })); sent++; }
    }
    if (sent) this.emit('chat', { from: 'You', text, mine: true });
    return sent;
  }

  dropPeer(id) {
    const p = this.peers.get(id);
    if (!p) return;
    p.pc.close();
    this.peers.delete(id);
    this.emit('gone', { peer: id });
  }

  setMuted(kind, muted) {
    for (const t of this.localStream.getTracks()) if (t.kind === kind) t.enabled = !muted;
  }

  async shareScreen(on) {
    if (on) {
      const display = await navigator.mediaDevices.getDisplayMedia({ video: true });
      this.screenTrack = display.getVideoTracks()[0];
      this.screenTrack.onended = () => this.shareScreen(false);
    } else if (this.screenTrack) {
      this.screenTrack.onended = null;
      this.screenTrack.stop();
      this.screenTrack = null;
    }
    const track = this.screenTrack || this.cameraTrack;
    for (const p of this.peers.values()) {
      for (const s of p.pc.getSenders()) if (s.track && s.track.kind === 'video') await s.replaceTrack(track);
    }
    this.emit('screen', { on: !!this.screenTrack, track });
  }

  // stats answers, for each peer, its connection state and the video
  // frames decoded so far.
  async stats() {
    const out = [];
    for (const [id, p] of this.peers) {
      let framesDecoded = 0;
      const report = await p.pc.getStats();
      report.forEach((s) => { if (s.type === 'inbound-rtp' && s.kind === 'video') framesDecoded += s.framesDecoded || 0; });
      out.push({ peer: id, name: p.info.name, state: p.pc.connectionState, framesDecoded });
    }
    return out;
  }

  leave() {
    this.closed = true;
    this.send({ type: 'leave' });
    this.teardown();
  }

  end() {
    this.closed = true;
    this.send({ type: 'end' });
    this.teardown();
  }

  teardown() {
    clearInterval(this.pingTimer);
    for (const id of [...this.peers.keys()]) this.dropPeer(id);
    if (this.localStream) for (const t of this.localStream.getTracks()) t.stop();
    if (this.screenTrack) this.screenTrack.stop();
    setTimeout(() => { if (this.ws) this.ws.close(1000); }, 200);
  }
}
