// Banco Exemplo's page: asks the bank for an SDK token, lets smartauth's SDK decide (passively, or
// with a code or a selfie), then hands the attestation to the bank, which checks it before moving money.
const TEXT = {
  'pt-BR': {
    balance: 'Saldo', explain: 'Transferências acima de R$ 100,00 podem pedir uma confirmação.',
    transfer: 'Transferir R$ 150,00 para João', details: 'O que o banco conferiu', inbox: 'Celular de demonstração (SMS)',
    inboxHint: 'O smartauth envia os códigos para este “celular” (o gateway de SMS do exemplo).',
    who: (n) => `Olá, ${n}`, working: 'Verificando…', approved: (id) => `Transferência feita. Autorização ${id}.`,
    refused: { refused: 'Transferência não autorizada.', cancelled: 'Transferência cancelada.', methods_exhausted: 'Transferência não autorizada: tentativas esgotadas.', locked: 'Confirmação bloqueada: fale com o banco.', no_method: 'Não foi possível confirmar a transferência por aqui.' },
    bankRefused: (e) => `O banco recusou a autorização (${e}).`, error: (m) => `Erro: ${m}`, empty: 'Nenhuma mensagem.',
    loginFirst: 'Entre na sua conta para transferir.',
  },
  en: {
    balance: 'Balance', explain: 'Transfers above R$ 100,00 may ask for a confirmation.',
    transfer: 'Transfer R$ 150,00 to João', details: 'What the bank checked', inbox: 'Demo phone (SMS)',
    inboxHint: 'smartauth sends the codes to this “phone” (the example’s SMS gateway).',
    who: (n) => `Hello, ${n}`, working: 'Checking…', approved: (id) => `Transfer done. Authorization ${id}.`,
    refused: { refused: 'Transfer not authorized.', cancelled: 'Transfer cancelled.', methods_exhausted: 'Transfer not authorized: no tries left.', locked: 'Confirmation locked: contact the bank.', no_method: 'The transfer cannot be confirmed here.' },
    bankRefused: (e) => `The bank refused the authorization (${e}).`, error: (m) => `Error: ${m}`, empty: 'No messages.',
    loginFirst: 'Log in to your account to make a transfer.',
  },
};

const $ = (sel) => document.querySelector(sel);
// What happened last, for the curious (and for the browser tests).
window.bankDemo = { last: null, verify: null, transfer: null };

async function post(path, body) {
  const r = await fetch(path, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body ?? {}) });
  const data = await r.json().catch(() => ({}));
  return { status: r.status, data };
}

function decodeClaims(jwt) {
  try {
    const b64 = jwt.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    return JSON.parse(new TextDecoder().decode(Uint8Array.from(atob(b64), (c) => c.charCodeAt(0))));
  } catch {
    return null;
  }
}

function show(state, text) {
  const r = $('#result');
  r.dataset.state = state;
  r.textContent = text;
}

async function main() {
  const answer = await fetch('/api/config');
  const config = await answer.json();
  const wanted = new URLSearchParams(location.search).get('lang');
  const lang = wanted === 'en' || wanted === 'pt-BR' ? wanted : config.language === 'en' ? 'en' : 'pt-BR';
  const t = TEXT[lang];
  document.documentElement.lang = lang;
  for (const el of document.querySelectorAll('[data-t]')) el.textContent = t[el.dataset.t];
  // The demo phone exists only in demo mode (DEMO=1); otherwise the codes go to the person's real phone.
  $('.phone').hidden = !config.demo;
  if (answer.status === 401) return show('error', t.loginFirst);
  $('#who').textContent = t.who(config.name);

  const { SmartAuth } = await import(`${config.smartauthUrl}/sdk/smartauth.js`);
  const button = $('#transfer');
  button.disabled = false;
  let busy = false;
  button.addEventListener('click', async () => {
    // Not `disabled` while busy: the button keeps the focus, so the SDK can give it back when its dialog closes.
    if (busy) return;
    busy = true;
    button.setAttribute('aria-disabled', 'true');
    show('working', t.working);
    $('#details').hidden = true;
    try {
      const minted = await post('/api/sdk-token');
      if (minted.status !== 200) throw new Error(minted.data.error ?? `HTTP ${minted.status}`);
      const { token, personId, policyId, transaction } = minted.data;
      const sdk = new SmartAuth({ token, baseUrl: config.smartauthUrl, language: lang });
      const result = await sdk.verifyPolicy(personId, policyId, { transaction });
      window.bankDemo.verify = result;
      window.bankDemo.last = { attestation: result.attestation ?? null, transaction, attemptId: result.attemptId ?? null };
      if (!result.isAuthorized) {
        show('refused', t.refused[result.reason] ?? t.refused.refused);
        $('#result').dataset.reason = result.reason ?? '';
        return;
      }
      const done = await post('/api/transfer', { attestation: result.attestation, transaction });
      window.bankDemo.transfer = { status: done.status, ...done.data };
      if (done.status === 200 && done.data.ok) {
        show('approved', t.approved(done.data.attemptId));
        $('#claims').textContent = JSON.stringify(decodeClaims(result.attestation), null, 2);
        $('#details').hidden = false;
      } else {
        show('error', t.bankRefused(done.data.error ?? done.status));
      }
    } catch (e) {
      show('error', t.error(e.message ?? String(e)));
    } finally {
      busy = false;
      button.removeAttribute('aria-disabled');
    }
  });

  // The demo phone: the SMS smartauth sent through this bank's /sms gateway.
  async function poll() {
    try {
      const r = await fetch('/api/inbox');
      if (r.ok) {
        const { messages } = await r.json();
        const list = $('#inbox');
        list.replaceChildren(
          ...(messages.length
            ? messages.slice().reverse().map((m) => {
                const li = document.createElement('li');
                const when = document.createElement('small');
                when.textContent = `${m.to} · ${new Date(m.at).toLocaleTimeString(lang)}`;
                li.append(when, m.message);
                return li;
              })
            : [Object.assign(document.createElement('li'), { textContent: t.empty })]),
        );
      }
    } catch {
      /* the bank is restarting; try again */
    }
    setTimeout(poll, 2000);
  }
  if (config.demo) poll();
}

main().catch((e) => show('error', `${e.message ?? e}`));
