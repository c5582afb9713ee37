// Exchanges the API token for a session cookie, then opens the dashboard.
const form = document.getElementById('login');
const error = document.getElementById('error');
if (new URLSearchParams(location.search).has('failed')) error.hidden = false;
form.addEventListener('submit', async (event) => {
  event.preventDefault();
  error.hidden = true;
  const token = form.elements.token.value;
  const res = await fetch('/login', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ token }),
    credentials: 'same-origin',
  });
  form.elements.token.value = '';
  if (res.status === 204) location.assign('/');
  else error.hidden = false;
});
