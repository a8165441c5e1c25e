// The official Genesys JavaScript guest chat client (purecloud-guest-chat-client 13.2.0)
// against a webchat-async simulator, used as a new user would: default options everywhere.
//
//   node --experimental-websocket guest_client.js BASE_URL ORGANIZATION_ID DEPLOYMENT_ID
//
// Prints one JSON line per step ({"step", "ok", "detail"}) and a last line
// {"done": true, "passed": N, "total": 13}. tests/interop/test_interop_js_client.py runs it.
// The media request is made by the agent through the simulator's admin API
// (POST /__simulator__/conversations/{id}/agent), as no guest call can make one.
'use strict';

const platformClient = require('purecloud-guest-chat-client');

const [baseUrl, organizationId, deploymentId] = process.argv.slice(2);
const TOTAL = 13;
let passed = 0;

function report(step, ok, detail) {
  if (ok) passed += 1;
  process.stdout.write(JSON.stringify({ step, ok, detail: detail || '' }) + '\n');
}

function describe(error) {
  if (error && typeof error === 'object') {
    if (error.status || error.code) return `${error.status} ${error.code}: ${error.message}`;
    if (error.message) return error.message;
  }
  return String(error);
}

async function step(name, fn) {
  try {
    const detail = await fn();
    report(name, true, detail);
    return true;
  } catch (error) {
    report(name, false, describe(error));
    return false;
  }
}

async function main() {
  const client = platformClient.ApiClient.instance;
  // setEnvironment forces https; a loopback simulator needs the base path itself.
  client.config.basePath = baseUrl;
  const api = new platformClient.WebChatApi();

  let chat;
  const ok = await step('postWebchatGuestConversations', async () => {
    chat = await api.postWebchatGuestConversations({
      organizationId,
      deploymentId,
      routingTarget: { targetType: 'QUEUE', targetAddress: 'Chat Queue' },
      memberInfo: { displayName: 'JavaScript Guest', customFields: { firstName: 'John' } },
    });
    if (!chat.id || !chat.jwt || !chat.eventStreamUri || !chat.member || !chat.member.id) {
      throw new Error('incomplete create response');
    }
    return chat.id;
  });
  if (!ok) return;
  const cid = chat.id;
  const me = chat.member.id;
  // The client's logger writes Authorization: "[REDACTED]" into the headers object of the
  // request it logs; for a call without auth (the create) that object is the client's own
  // defaultHeaders, which then overwrite the JWT on every later call. The work-around is on
  // the client side: drop that header before each call.
  const jwt = () => {
    delete client.defaultHeaders.Authorization;
    client.setJwt(chat.jwt);
  };

  const frames = [];
  let waiter = null;
  let socket;
  await step('stream attach', () => new Promise((resolve, reject) => {
    socket = new WebSocket(chat.eventStreamUri);
    socket.addEventListener('open', () => resolve('open'));
    socket.addEventListener('error', () => reject(new Error('websocket error')));
    socket.addEventListener('message', (event) => {
      frames.push(JSON.parse(event.data));
      if (waiter) waiter();
    });
  }));

  function waitFrame(predicate, timeoutMs) {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => { waiter = null; reject(new Error('no such frame')); }, timeoutMs);
      const check = () => {
        const found = frames.find(predicate);
        if (found) { clearTimeout(timer); waiter = null; resolve(found); }
      };
      waiter = check;
      check();
    });
  }

  await step('getWebchatGuestConversationMembers', async () => {
    jwt();
    const page = await api.getWebchatGuestConversationMembers(cid);
    if (!page.entities.some((m) => m.id === me)) throw new Error('the guest is not listed');
    return `${page.entities.length} members`;
  });
  await step('getWebchatGuestConversationMember', async () => {
    jwt();
    const member = await api.getWebchatGuestConversationMember(cid, me);
    if (member.id !== me || member.role !== 'CUSTOMER') throw new Error('wrong member');
    return member.displayName;
  });
  let sent;
  await step('postWebchatGuestConversationMemberMessages', async () => {
    jwt();
    sent = await api.postWebchatGuestConversationMemberMessages(cid, me, {
      body: 'Hello from JavaScript',
      bodyType: 'standard',
    });
    if (!sent.id) throw new Error('no message id');
    return sent.id;
  });
  await step('stream message echo', async () => {
    const frame = await waitFrame(
      (f) => f.metadata && f.metadata.type === 'message' && sent && f.eventBody.id === sent.id,
      5000,
    );
    return frame.eventBody.body;
  });
  await step('postWebchatGuestConversationMemberTyping', async () => {
    jwt();
    const typing = await api.postWebchatGuestConversationMemberTyping(cid, me);
    if (!typing.id) throw new Error('no typing id');
    return typing.id;
  });
  await step('getWebchatGuestConversationMessages', async () => {
    jwt();
    const page = await api.getWebchatGuestConversationMessages(cid);
    if (!sent || !page.entities.some((m) => m.id === sent.id)) throw new Error('message not listed');
    return `${page.entities.length} messages`;
  });
  await step('getWebchatGuestConversationMessage', async () => {
    jwt();
    const message = await api.getWebchatGuestConversationMessage(cid, sent.id);
    if (message.body !== 'Hello from JavaScript') throw new Error('wrong body');
    return message.id;
  });

  let media;
  await step('getWebchatGuestConversationMediarequests', async () => {
    const admin = await fetch(`${baseUrl}/__simulator__/conversations/${cid}/agent`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ action: 'request_media', types: ['COBROWSE'] }),
    });
    if (!admin.ok) throw new Error(`admin request_media: ${admin.status}`);
    media = await admin.json();
    jwt();
    const list = await api.getWebchatGuestConversationMediarequests(cid);
    if (!list.entities.some((m) => m.id === media.id)) throw new Error('media request not listed');
    return `${list.entities.length} media requests`;
  });
  await step('getWebchatGuestConversationMediarequest', async () => {
    jwt();
    const one = await api.getWebchatGuestConversationMediarequest(cid, media.id);
    if (one.state !== 'PENDING') throw new Error(`state ${one.state}`);
    return one.id;
  });
  await step('patchWebchatGuestConversationMediarequest', async () => {
    jwt();
    const answered = await api.patchWebchatGuestConversationMediarequest(cid, media.id, {
      state: 'ACCEPTED',
    });
    if (answered.state !== 'ACCEPTED') throw new Error(`state ${answered.state}`);
    return answered.state;
  });
  await step('deleteWebchatGuestConversationMember', async () => {
    jwt();
    await api.deleteWebchatGuestConversationMember(cid, me);
    await waitFrame(
      (f) => f.metadata && f.metadata.type === 'member-change'
        && f.eventBody.member.id === me && f.eventBody.member.state === 'DISCONNECTED',
      5000,
    );
    return 'left';
  });
  if (socket) socket.close();
}

main()
  .catch((error) => report('unexpected', false, describe(error)))
  .finally(() => {
    process.stdout.write(JSON.stringify({ done: true, passed, total: TOTAL }) + '\n');
    // The client's config file watcher keeps the event loop alive.
    process.exit(0);
  });
