// Timestamps of a WebRTC set-up, recorded inside the page without touching the app: an init
// script wraps RTCPeerConnection, getUserMedia and WebSocket (to see when an offer or answer
// leaves and arrives) and writes wall-clock times (shared by every page of the machine) to
// `window.__rtc`. `phases` turns two pages' timelines into the steps of one call.

/** Installs the recorder in every page of `context` (before any of the app's code runs). */
export async function recordRtc(context) {
  await context.addInitScript(() => {
    const log = (window.__rtc = []);
    const now = () => performance.timeOrigin + performance.now();
    const mark = (what) => log.push({ what, at: now() });
    const gum = navigator.mediaDevices?.getUserMedia?.bind(navigator.mediaDevices);
    if (gum) {
      navigator.mediaDevices.getUserMedia = async (c) => {
        mark('getUserMedia asked');
        const s = await gum(c);
        mark('getUserMedia opened');
        return s;
      };
    }
    // A description on the wire: socket.io frames carry the payload as JSON text.
    const description = (data) => typeof data === 'string' && data.match(/"type":"(offer|answer)"/)?.[1];
    const send = WebSocket.prototype.send;
    WebSocket.prototype.send = function (data) {
      const kind = description(data);
      if (kind) mark(`${kind} on the wire`);
      return send.call(this, data);
    };
    const NativeSocket = window.WebSocket;
    window.WebSocket = function (...args) {
      const socket = new NativeSocket(...args);
      socket.addEventListener('message', (e) => {
        const kind = description(e.data);
        if (kind) mark(`${kind} arrived`);
      });
      return socket;
    };
    window.WebSocket.prototype = NativeSocket.prototype;
    Object.setPrototypeOf(window.WebSocket, NativeSocket);
    const Native = window.RTCPeerConnection;
    window.RTCPeerConnection = function (...args) {
      const pc = new Native(...args);
      mark('peer created');
      const wrap = (name, label) => {
        const f = pc[name].bind(pc);
        pc[name] = async (...a) => {
          const r = await f(...a);
          mark(label(a, pc));
          return r;
        };
      };
      wrap('setLocalDescription', (_, p) => `local ${p.localDescription?.type} set`);
      wrap('setRemoteDescription', (a) => `remote ${a[0]?.type} set`);
      let candidates = 0;
      pc.addEventListener('negotiationneeded', () => mark('negotiationneeded'));
      pc.addEventListener('icecandidate', (e) => e.candidate && candidates++ === 0 && mark('first local candidate'));
      pc.addEventListener('icegatheringstatechange', () => mark(`gathering ${pc.iceGatheringState}`));
      pc.addEventListener('iceconnectionstatechange', () => mark(`ice ${pc.iceConnectionState}`));
      pc.addEventListener('connectionstatechange', () => mark(`connection ${pc.connectionState}`));
      pc.addEventListener('track', (e) => e.track.kind === 'video' && mark('remote video track'));
      return pc;
    };
    window.RTCPeerConnection.prototype = Native.prototype;
    Object.setPrototypeOf(window.RTCPeerConnection, Native);
  });
}

/** Takes and clears a page's timeline. */
export const takeTimeline = (page) => page.evaluate(() => window.__rtc.splice(0));

/** The first time `what` happened on a timeline at or after `from`. */
const first = (timeline, what, from) => timeline.find((e) => e.what === what && e.at >= from)?.at;

/** One call's steps, as times since `start`: the caller's and the callee's timelines. */
export function phases(start, caller, callee) {
  const steps = [
    ['caller: peer created', first(caller, 'peer created', start)],
    ['caller: offer set', first(caller, 'local offer set', start)],
    ['caller: offer sent', first(caller, 'offer on the wire', start)],
    ['callee: offer arrived', first(callee, 'offer arrived', start)],
    ['callee: peer created', first(callee, 'peer created', start)],
    ['callee: offer applied', first(callee, 'remote offer set', start)],
    ['callee: answer set', first(callee, 'local answer set', start)],
    ['callee: answer sent', first(callee, 'answer on the wire', start)],
    ['caller: answer arrived', first(caller, 'answer arrived', start)],
    ['caller: answer applied', first(caller, 'remote answer set', start)],
    ['caller: ICE connected', first(caller, 'ice connected', start)],
    ['caller: DTLS connected', first(caller, 'connection connected', start)],
  ];
  return steps.map(([name, at]) => [name, at === undefined ? NaN : at - start]);
}
