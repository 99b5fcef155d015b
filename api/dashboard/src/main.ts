/**
 * The dashboard shell: header (views as tabs, language switch, who is signed in), the sign-in form,
 * the live stream for the view on screen, and the hash route (#overview, #inventory, …).
 */
import './style.css';
import {
  ApiError,
  demoSession,
  get,
  openLive,
  session,
  signIn,
  signOut,
  signedOutByChoice,
  type LiveMessage,
} from './api.ts';
import { disposeAll } from './charts.ts';
import { getLang, half, setLang, t } from './i18n.ts';
import {
  inventoryView,
  operatorsView,
  overviewView,
  pricesView,
  reportsView,
  transportView,
  type View,
} from './views.ts';

const app = document.getElementById('app')!;
const makers = {
  overview: overviewView,
  inventory: inventoryView,
  prices: pricesView,
  transport: transportView,
  operators: operatorsView,
  reports: reportsView,
};
type ViewId = keyof typeof makers;
const ORDER: ViewId[] = ['overview', 'inventory', 'prices', 'transport', 'operators', 'reports'];

let current: View | null = null;
let closeLive: (() => void) | null = null;
let liveEvents = 0;

function viewFromHash(): ViewId {
  const h = location.hash.replace(/^#/, '') as ViewId;
  return ORDER.includes(h) ? h : 'overview';
}

function esc(s: string): string {
  return s.replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!,
  );
}

function shell(): void {
  const s = session();
  const id = viewFromHash();
  document.title = `${t('title')} · coalflow`;
  app.innerHTML = `<header class="top">
      <h1>${t('title')}</h1>
      <nav aria-label="${t('title')}"><ul role="tablist">${ORDER.map((v) => `<li><a role="tab" href="#${v}" id="tab-${v}" aria-selected="${v === id}" aria-controls="main" ${v === id ? 'aria-current="page"' : 'tabindex="-1"'}>${t(v)}</a></li>`).join('')}</ul></nav>
      <div class="tools">
        <span id="live-status" class="live off" role="status" aria-live="polite" data-events="${liveEvents}">${t('live')}</span>
        <span class="who" id="who">${s.key ? `${t('signedInAs')}: ${esc(s.name ?? '—')}${s.demo && !/演示|demo/i.test(s.name ?? '') ? ` (${t('demo')})` : ''}` : ''}</span>
        ${s.key ? `<button type="button" id="sign-out">${t('signOut')}</button>` : ''}
        <button type="button" id="lang" lang="${getLang() === 'zh' ? 'en' : 'zh'}" aria-label="${t('langName')}">${t('lang')}</button>
      </div>
    </header>
    <main id="main" tabindex="-1" role="tabpanel" aria-labelledby="tab-${id}"></main>`;
  app.querySelector('#lang')!.addEventListener('click', () => {
    setLang(getLang() === 'zh' ? 'en' : 'zh');
    void route();
  });
  app.querySelector('#sign-out')?.addEventListener('click', () => {
    signOut();
    void start();
  });
  // Arrow keys move between tabs (the tab pattern); Enter follows the link.
  const tabs = [...app.querySelectorAll<HTMLAnchorElement>('nav a[role="tab"]')];
  tabs.forEach((a, i) =>
    a.addEventListener('keydown', (ev) => {
      const next =
        ev.key === 'ArrowRight'
          ? i + 1
          : ev.key === 'ArrowLeft'
            ? i - 1
            : ev.key === 'Home'
              ? 0
              : ev.key === 'End'
                ? tabs.length - 1
                : null;
      if (next === null) return;
      ev.preventDefault();
      const to = tabs[(next + tabs.length) % tabs.length]!;
      to.focus();
      location.hash = to.getAttribute('href')!;
    }),
  );
}

function setLive(open: boolean): void {
  const el = document.getElementById('live-status');
  if (!el) return;
  el.classList.toggle('off', !open);
  el.title = open ? t('live') : t('liveOff');
}

function onLive(m: LiveMessage): void {
  liveEvents += 1;
  const el = document.getElementById('live-status');
  if (el) {
    el.dataset.events = String(liveEvents);
    el.textContent = `${t('live')} · ${t('updated')} ${new Date().toLocaleTimeString(getLang() === 'zh' ? 'zh-CN' : 'en-GB', { hour12: false })}`;
  }
  current?.onLive?.(m);
}

async function route(): Promise<void> {
  current?.leave?.();
  closeLive?.();
  closeLive = null;
  disposeAll();
  // Keyboard users moving along the tabs keep their focus on the tab they chose.
  const onTab = document.activeElement?.getAttribute('role') === 'tab';
  shell();
  const id = viewFromHash();
  if (onTab) document.getElementById(`tab-${id}`)?.focus();
  const view = makers[id]();
  current = view;
  const main = document.getElementById('main')!;
  main.dataset.view = id;
  if (view.families.length) closeLive = openLive(view.families, onLive, setLive);
  else document.getElementById('live-status')?.setAttribute('hidden', '');
  await view.render(main);
  main.dataset.ready = 'true';
}

function signInForm(message = ''): void {
  current?.leave?.();
  closeLive?.();
  disposeAll();
  app.innerHTML = `<main id="main" class="signin"><h1>${t('title')}</h1>
    <form id="sign-in" aria-describedby="key-hint">
      <label for="key">${t('keyLabel')}</label>
      <input id="key" name="key" type="password" autocomplete="off" required spellcheck="false">
      <p id="key-hint" class="hint">${t('keyHint')}</p>
      <p class="error" role="alert">${message}</p>
      <div class="row"><button type="submit">${t('signIn')}</button><button type="button" id="lang" lang="${getLang() === 'zh' ? 'en' : 'zh'}">${t('lang')}</button></div>
    </form></main>`;
  app.querySelector('#lang')!.addEventListener('click', () => {
    setLang(getLang() === 'zh' ? 'en' : 'zh');
    signInForm();
  });
  const input = app.querySelector<HTMLInputElement>('#key')!;
  input.focus();
  app.querySelector('#sign-in')!.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const key = input.value.trim();
    signIn(key, null);
    try {
      const me = await whoAmI();
      signIn(key, me);
      sessionStorage.removeItem('coalflow.signedOut');
      location.hash = '#overview';
      await route();
    } catch (err) {
      signOut();
      signInForm(err instanceof ApiError && err.status === 401 ? t('badKey') : half((err as Error).message));
    }
  });
}

/** The signed-in subscriber's name (`/v1/me` of the access layer); without an access layer, no name. */
async function whoAmI(): Promise<string | null> {
  try {
    const me = await get<{
      subscriberName?: string;
      name?: string;
      kind?: string;
      subscriber?: { name?: string };
    }>('/v1/me');
    // What the page offers (operator forms) follows the kind; the API still decides every call.
    if (me.kind) sessionStorage.setItem('coalflow.kind', me.kind);
    return me.subscriberName ?? me.subscriber?.name ?? me.name ?? null;
  } catch (err) {
    if (err instanceof ApiError && err.status === 404) return null;
    throw err;
  }
}

async function start(): Promise<void> {
  setLang(getLang());
  let s = session();
  if (!s.key && !signedOutByChoice()) {
    const demo = await demoSession();
    if (demo) {
      signIn(demo.key, demo.name, true);
      s = session();
    }
  }
  if (s.key) {
    try {
      const me = await whoAmI();
      if (me && me !== s.name) signIn(s.key, me, s.demo);
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) {
        // A demo key is renewed at every start of the embedded default: take the current one.
        const demo = s.demo ? await demoSession() : null;
        if (demo && demo.key !== s.key) {
          signIn(demo.key, demo.name, true);
          await route();
          return;
        }
        signOut();
        signInForm(t('badKey'));
        return;
      }
    }
    await route();
    return;
  }
  // No key: the page works without one only when the API asks for none.
  try {
    await get('/v1/indicators/latest?family=price&scope=city');
    await route();
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) signInForm();
    else await route();
  }
}

window.addEventListener('hashchange', () => {
  void route();
});
// The skip link moves focus to the content; it must not become a route.
document.querySelector('.skip')?.addEventListener('click', (ev) => {
  ev.preventDefault();
  document.getElementById('main')?.focus();
});
void start();
