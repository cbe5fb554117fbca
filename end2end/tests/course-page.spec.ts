// The course's own page (the seed's chat with names, plain HTML + the official socket.io
// client from /socket.io/socket.io.js) chats with a Leptos page through Switchboard.
import { test, expect } from '@playwright/test';
import { closeUsers, connected, users } from './support';

test.afterEach(closeUsers);

// The seed's client code, unchanged but for the namespace: the reference server (and ours)
// gives each app its own namespace instead of `/`.
const COURSE_PAGE = `<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>course chat</title></head><body>
<form id="nameForm" method="post" action="">
  <input id="nameInput" type="text" name="nameInput" placeholder="your name" />
  <button type="submit">Connect</button>
</form>
<form id="msgForm" method="post" action="">
  <input id="msgInput" type="text" name="msgInput" />
  <button type="submit">Send Message</button>
</form>
<textarea id="messages" rows="10" cols="60"></textarea>
<script src="/socket.io/socket.io.js"></script>
<script>
  const $nameForm = document.getElementById('nameForm');
  const $nameInput = document.getElementById('nameInput');
  const msgForm = document.querySelector('#msgForm');
  const msgInput = document.querySelector('#msgInput');
  const $messages = document.getElementById('messages');
  let socket;
  const init = () => {
    socket = io.connect('/chat');
    socket.on('connect', () => { document.title = 'connected ' + socket.id; });
    socket.on('name', (name) => { $messages.value += 'you are ' + name + '\\n'; });
    socket.on('message', (sender, message) => {
      $messages.value += \`<\${sender.name}> \${message}\\n\`;
    });
    $nameForm.addEventListener('submit', e => handleSubmitName(e));
    msgForm.addEventListener('submit', e => handleSubmit(e));
  };
  const handleSubmitName = e => {
    e.preventDefault();
    socket.emit('name', $nameInput.value);
  };
  const handleSubmit = e => {
    e.preventDefault();
    if (socket.connected) {
      socket.emit('message', msgInput.value);
    }
    msgInput.value = '';
  };
  init();
</script>
</body></html>`;

test('the official socket.io client in a plain page chats with a Leptos page', async ({ browser, baseURL }) => {
  const [course, leptos] = await users(browser, 2);
  // Served at our origin, as the course serves its pages next to the socket server.
  await course.route(`${baseURL}/course/chat.html`, (route) =>
    route.fulfill({ contentType: 'text/html', body: COURSE_PAGE }),
  );
  await course.goto('/course/chat.html');
  await expect(course).toHaveTitle(/^connected /);
  await course.locator('#nameInput').fill('Course');
  await course.getByRole('button', { name: 'Connect' }).click();
  await expect(course.locator('#messages')).toHaveValue(/you are Course/);

  await leptos.goto('/chat');
  await connected(leptos);
  await leptos.getByLabel('Your name').fill('Leptos');
  await leptos.getByRole('button', { name: 'Join' }).click();

  await course.locator('#msgInput').fill('hello from plain JS');
  await course.getByRole('button', { name: 'Send Message' }).click();
  await expect(leptos.getByRole('log')).toContainText('<Course> hello from plain JS');

  await leptos.getByLabel('Message').fill('hello from Rust');
  await leptos.getByRole('button', { name: 'Send' }).click();
  await expect(course.locator('#messages')).toHaveValue(/<Leptos> hello from Rust/);
});
