// The app's screens: sign-in, today's list, the consultation room.
import * as auth from './auth.js';
import * as fhir from './fhir.js';
import { Room } from './room.js';

const $ = (id) => document.getElementById(id);
const maxDocumentBytes = 8 << 20; // the FHIR API takes 16 MiB bodies; base64 adds a third

let session = null;
let room = null;

function show(section) {
  for (const id of ['signin', 'today', 'room']) $(id).hidden = id !== section;
  $('main').focus();
}

function status(text) { $('status').textContent = text; }

function showError(err) {
  const el = $('error');
  el.textContent = String((err && err.message) || err);
  el.hidden = false;
}

function clearError() { $('error').hidden = true; }

async function boot() {
  $('signin-professional').onclick = () => auth.signIn('professional').catch(showError);
  $('signin-patient').onclick = () => auth.signIn('patient').catch(showError);
  $('signout').onclick = async () => { await auth.signOut(); location.assign(auth.redirectUri); };
  $('refresh').onclick = () => loadToday().catch(showError);
  try {
    await auth.completeSignIn();
  } catch (err) {
    showError(err);
  }
  session = auth.current();
  if (!session) {
    show('signin');
    return;
  }
  $('who').textContent = 'Signed in as ' + (session.name || session.fhirUser);
  $('signout').hidden = false;
  await loadToday().catch(showError);
}

function when(r) {
  const s = r.start || (r.period && r.period.start);
  return s ? new Date(s).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' }) : '';
}

function card(title, detail, roomRef, joinable) {
  const li = document.createElement('li');
  const h = document.createElement('strong');
  h.textContent = title;
  const p = document.createElement('span');
  p.textContent = detail;
  li.append(h, p);
  if (joinable) {
    const b = document.createElement('button');
    b.type = 'button';
    b.textContent = 'Join';
    b.setAttribute('aria-label', 'Join ' + title + ' ' + detail);
    b.dataset.room = roomRef;
    b.onclick = () => enterRoom(roomRef).catch(showError);
    li.append(b);
  }
  return li;
}

function fill(list, items, empty) {
  list.replaceChildren(...(items.length ? items : [Object.assign(document.createElement('li'), { className: 'empty', textContent: empty })]));
}

async function loadToday(note) {
  clearError();
  status('Loading today\'s consultations…');
  const { appointments, encounters } = await fhir.todaysWork(session);
  fill($('appointments'), appointments.map((a) => card(
    'Appointment ' + when(a), (a.description || a.status || ''), 'Appointment/' + a.id, a.status === 'booked' || a.status === 'arrived' || a.status === 'checked-in',
  )), 'No appointment today.');
  const closed = new Set(['finished', 'cancelled', 'entered-in-error']);
  fill($('encounters'), encounters.map((e) => card(
    'Consultation ' + when(e), e.status, 'Encounter/' + e.id, !closed.has(e.status),
  )), 'No consultation today.');
  status(note || appointments.length + encounters.length + ' item(s) today');
  show('today');
}

function addChat({ from, text, mine }) {
  const li = document.createElement('li');
  const who = document.createElement('span');
  who.className = 'from';
  who.textContent = from + ':';
  li.append(who, document.createTextNode(text));
  if (mine) li.className = 'mine';
  $('chat-log').append(li);
  $('chat-log').scrollTop = $('chat-log').scrollHeight;
}

function tileFor(peer, info) {
  let fig = document.querySelector('figure[data-peer="' + CSS.escape(peer) + '"]');
  if (!fig) {
    fig = document.createElement('figure');
    fig.className = 'tile remote';
    fig.dataset.peer = peer;
    const v = document.createElement('video');
    v.autoplay = true;
    v.playsInline = true;
    v.setAttribute('aria-label', 'Video of ' + ((info && info.name) || 'a participant'));
    const cap = document.createElement('figcaption');
    cap.textContent = (info && info.name) || 'Participant';
    fig.append(v, cap);
    $('videos').append(fig);
  }
  return fig;
}

async function enterRoom(ref) {
  clearError();
  show('room');
  $('chat-log').replaceChildren();
  $('room-state').textContent = 'Starting camera and microphone…';
  $('end').hidden = session.kind !== 'professional';
  room = new Room(session, ref, session.name || session.fhirUser);
  window.telehubRoom = room; // for the browser tests and the curious: stats(), peers
  room.addEventListener('local', (e) => { $('local-video').srcObject = e.detail.stream; });
  room.addEventListener('joined', (e) => {
    room.encounterRef = e.detail.room;
    $('room-title').textContent = e.detail.mode === 'mesh' ? 'Meeting' : 'Consultation';
    $('room-state').textContent = e.detail.peers.length ? 'Connecting…' : 'Waiting for the other participant…';
  });
  room.addEventListener('remote', (e) => {
    const v = tileFor(e.detail.peer, e.detail.info).querySelector('video');
    if (v.srcObject !== e.detail.stream) v.srcObject = e.detail.stream;
  });
  room.addEventListener('gone', (e) => {
    const fig = document.querySelector('figure[data-peer="' + CSS.escape(e.detail.peer) + '"]');
    if (fig) fig.remove();
  });
  room.addEventListener('peerstate', (e) => {
    const who = (e.detail.info && e.detail.info.name) || 'the participant';
    const text = { connected: 'Connected with ' + who, disconnected: 'Connection with ' + who + ' interrupted', failed: 'Connection with ' + who + ' failed' }[e.detail.state];
    if (text) $('room-state').textContent = text;
    document.body.dataset.peerState = e.detail.state;
  });
  room.addEventListener('state', (e) => { $('room-state').textContent = e.detail.text; });
  room.addEventListener('chat', (e) => addChat(e.detail));
  room.addEventListener('error', (e) => showError(e.detail.message));
  room.addEventListener('ended', () => leaveRoom('The consultation has ended.'));
  room.addEventListener('closed', (e) => leaveRoom('Disconnected from the consultation' + (e.detail.reason ? ' (' + e.detail.reason + ')' : '') + '.'));
  room.addEventListener('screen', (e) => {
    $('share-screen').setAttribute('aria-pressed', String(e.detail.on));
    $('share-screen').textContent = e.detail.on ? 'Stop sharing' : 'Share screen';
  });
  try {
    await room.start();
  } catch (err) {
    // No camera or microphone, or the user refused them: back to the list.
    room.leave();
    leaveRoom('Could not start the consultation: ' + (err.message || err));
    showError('Camera or microphone unavailable: ' + (err.message || err));
  }
}

function leaveRoom(message) {
  if (!room) return;
  room = null;
  window.telehubRoom = null;
  for (const fig of document.querySelectorAll('figure.remote')) fig.remove();
  $('local-video').srcObject = null;
  status(message);
  loadToday(message).catch(showError);
}

function toggle(button, onText, offText, apply) {
  const on = button.getAttribute('aria-pressed') !== 'true';
  button.setAttribute('aria-pressed', String(on));
  button.textContent = on ? onText : offText;
  apply(on);
}

function wireRoomControls() {
  $('toggle-mic').onclick = (e) => toggle(e.currentTarget, 'Microphone on', 'Microphone off', (on) => room && room.setMuted('audio', !on));
  $('toggle-cam').onclick = (e) => toggle(e.currentTarget, 'Camera on', 'Camera off', (on) => room && room.setMuted('video', !on));
  $('share-screen').onclick = (e) => {
    const on = e.currentTarget.getAttribute('aria-pressed') !== 'true';
    room && room.shareScreen(on).catch(showError);
  };
  $('leave').onclick = () => { if (room) { room.leave(); leaveRoom('You left the consultation.'); } };
  $('end').onclick = () => {
    if (room && confirm('End the consultation for everyone?')) { room.end(); leaveRoom('You ended the consultation.'); }
  };
  $('chat-form').onsubmit = (e) => {
    e.preventDefault();
    const text = $('chat-input').value.trim();
    if (!text || !room) return;
    if (room.sendChat(text)) $('chat-input').value = '';
    else showError('Nobody is connected to read the message yet.');
  };
  $('take-photo').onclick = takePhoto;
  $('photo-discard').onclick = () => { $('photo-panel').hidden = true; };
  $('photo-save').onclick = () => savePhoto().catch(showError);
  $('attach').onchange = (e) => attachDocument(e.currentTarget).catch(showError);
}

function takePhoto() {
  // The other participant's video when there is one (a wound, a rash), else ours.
  const video = document.querySelector('figure.remote video') || $('local-video');
  if (!video.videoWidth) { showError('No video to take a photo from yet.'); return; }
  const canvas = $('photo-canvas');
  canvas.width = video.videoWidth;
  canvas.height = video.videoHeight;
  canvas.getContext('2d').drawImage(video, 0, 0);
  $('photo-panel').hidden = false;
  $('photo-save').focus();
}

// encounterContext reads the room's Encounter for the subject the records are about.
async function encounterContext() {
  const ref = room.encounterRef;
  const enc = await fhir.read(session, 'Encounter', ref.split('/')[1]);
  return { encounter: { reference: ref }, subject: enc.subject };
}

async function savePhoto() {
  if (!room) return;
  const blob = await new Promise((resolve) => $('photo-canvas').toBlob(resolve, 'image/jpeg', 0.9));
  const ctx = await encounterContext();
  const media = {
    resourceType: 'Media', status: 'completed',
    type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/media-type', code: 'image', display: 'Image' }] },
    subject: ctx.subject, encounter: ctx.encounter, createdDateTime: new Date().toISOString(),
    content: await fhir.attachment(blob, $('photo-title').value || 'Photo'),
  };
  if (session.fhirUser) media.operator = { reference: session.fhirUser };
  const saved = await fhir.create(session, media);
  $('photo-panel').hidden = true;
  status('Photo saved to the record (Media/' + saved.id + ').');
}

async function attachDocument(input) {
  const file = input.files && input.files[0];
  input.value = '';
  if (!file || !room) return;
  if (file.size > maxDocumentBytes) { showError('The document is too large (8 MB at most).'); return; }
  const ctx = await encounterContext();
  const doc = {
    resourceType: 'DocumentReference', status: 'current', subject: ctx.subject, date: new Date().toISOString(),
    description: file.name, content: [{ attachment: await fhir.attachment(file, file.name) }],
    context: { encounter: [ctx.encounter] },
  };
  if (session.fhirUser) doc.author = [{ reference: session.fhirUser }];
  const saved = await fhir.create(session, doc);
  status('Document saved to the record (DocumentReference/' + saved.id + ').');
}

wireRoomControls();
boot();
