/**
 * The batch job's time left in JupyterLab's status bar, a notification at each warning
 * time the site set, and a save of every open notebook at the last one.
 *
 * Everything comes from the server part, `GET {baseUrl}batchspawner-x/job`, which asks
 * the hub with the server's own token (the token never reaches the browser). When it
 * answers `available: false` the item stays hidden and nothing else happens, except that
 * a warning the job itself wrote (the scheduler's early signal) is still shown.
 *
 * Where the site lets users extend a session, the warnings carry an "Extend by 1 h"
 * button, and the command "Extend the batch job's time limit" does the same: both
 * `POST {baseUrl}batchspawner-x/job/extend`, which asks the hub with the server's token,
 * and show the new end or the refusal in the hub's (or the scheduler's) words.
 */
import {
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { Notification } from '@jupyterlab/apputils';
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';
import { IStatusBar } from '@jupyterlab/statusbar';
import { Signal } from '@lumino/signaling';
import { Widget } from '@lumino/widgets';

/** Milliseconds between two questions to the server part. */
const REFRESH_MS = 60_000;
/** Milliseconds between two redraws of the local countdown. */
const TICK_MS = 1_000;
const SAVE_ALL = 'docmanager:save-all';
const EXTEND = 'batchspawner-x-lab:extend';

/** Whether the job may be extended now, by how much and up to what (the hub's offer). */
export interface IExtendOffer {
  available: boolean;
  step_seconds: number | null;
  max_seconds: number | null;
  reason: string | null;
}

/** The hub's job answer, as the server part passes it on. */
export interface IJob {
  job_id: string;
  cluster: string | null;
  node: string | null;
  state: string;
  profile: string | null;
  start: string | null;
  time_limit_seconds: number | null;
  end: string | null;
  seconds_left: number | null;
  elapsed_seconds: number | null;
  warnings_seconds: number[];
  now: string;
  extend?: IExtendOffer;
}

/** The server part's answer to an extension. */
export interface IExtendAnswer {
  extended: boolean;
  job?: IJob;
  message?: string;
}

/** A warning the job wrote to its events file. */
export interface IJobEvent {
  event: 'warning';
  seconds_left: number;
  time: number;
  source: string | null;
}

export interface IAnswer {
  available: boolean;
  reason?: string;
  job?: IJob;
  events: IJobEvent[];
}

/**
 * "1 h 12 min", "5 min", "40 s": the time left, in the largest units that matter.
 * Minutes are rounded up, as a countdown reads: 119 s is "2 min", 60 s "1 min", 59 s "59 s".
 */
export function formatLeft(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  if (s < 60) {
    return `${s} s`;
  }
  const minutes = Math.ceil(s / 60);
  if (minutes < 60) {
    return `${minutes} min`;
  }
  const h = Math.floor(minutes / 60);
  const m = minutes % 60;
  return m ? `${h} h ${m} min` : `${h} h`;
}

/** The status bar's words: "Job 1234 · 1 h 12 min left". */
export function itemText(job: IJob, left: number | null): string {
  if (left === null) {
    return `Job ${job.job_id} · ${job.state.toLowerCase()}`;
  }
  return `Job ${job.job_id} · ${formatLeft(left)} left`;
}

/** Thresholds (seconds) already warned about, remembered per job across reloads. */
class Warned {
  constructor(key: string) {
    this._key = `batchspawner-x-lab:${key}`;
    try {
      this._seen = new Set(JSON.parse(localStorage.getItem(this._key) || '[]'));
    } catch {
      this._seen = new Set();
    }
  }
  has(what: string): boolean {
    return this._seen.has(what);
  }
  add(what: string): void {
    this._seen.add(what);
    try {
      localStorage.setItem(this._key, JSON.stringify([...this._seen]));
    } catch {
      // a private window without storage: warnings may repeat after a reload
    }
  }
  private _key: string;
  private _seen: Set<string>;
}

/** The status-bar item and the warnings, driven by the server part's answers. */
class JobTimer {
  constructor(app: JupyterFrontEnd, item: Widget) {
    this._app = app;
    this._item = item;
  }

  readonly activeStateChanged = new Signal<this, void>(this);

  get available(): boolean {
    return this._job !== null;
  }

  /** The hub's offer to extend the job, when it may be extended now. */
  get offer(): IExtendOffer | null {
    const offer = this._job?.extend;
    return offer && offer.available && offer.step_seconds ? offer : null;
  }

  /** "Extend by 1 h", or "" when the job may not be extended. */
  get extendLabel(): string {
    const offer = this.offer;
    return offer ? `Extend by ${formatLeft(offer.step_seconds!)}` : '';
  }

  /** Extend the job by one step; the new end, or the refusal in words. */
  async extend(): Promise<void> {
    let answer: IExtendAnswer;
    try {
      answer = await postExtend();
    } catch (reason) {
      answer = { extended: false, message: String(reason) };
    }
    if (answer.extended && answer.job) {
      const left = answer.job.seconds_left;
      Notification.success(
        left === null
          ? `Job ${answer.job.job_id} was extended.`
          : `Job ${answer.job.job_id} was extended: it now ends in ${formatLeft(left)}.`,
        { autoClose: 8000 }
      );
      await this.refresh();
    } else {
      Notification.error(
        `The job was not extended: ${answer.message || 'no reason given'}`,
        { autoClose: false }
      );
    }
  }

  /** The warnings' button, while the job may be extended. */
  private _actions(): { label: string; callback: () => void }[] {
    const label = this.extendLabel;
    return label ? [{ label, callback: () => void this.extend() }] : [];
  }

  start(): void {
    void this.refresh();
    window.setInterval(() => void this.refresh(), REFRESH_MS);
    window.setInterval(() => this.tick(), TICK_MS);
  }

  async refresh(): Promise<void> {
    let answer: IAnswer;
    try {
      answer = await fetchJob();
    } catch (reason) {
      answer = { available: false, reason: String(reason), events: [] };
    }
    const wasAvailable = this.available;
    if (answer.available && answer.job) {
      this._job = answer.job;
      this._left = answer.job.seconds_left;
      this._at = Date.now();
      if (!this._warned || this._warnedJob !== answer.job.job_id) {
        this._warned = new Warned(answer.job.job_id);
        this._warnedJob = answer.job.job_id;
      }
    } else {
      this._job = null;
      this._item.node.title = answer.reason || '';
    }
    if (wasAvailable !== this.available) {
      this.activeStateChanged.emit();
    }
    this.jobEvents(answer.events || []);
    this.tick();
  }

  /** The countdown, redrawn locally; a threshold crossed since the last tick warns. */
  tick(): void {
    const job = this._job;
    if (!job) {
      return;
    }
    const left =
      this._left === null ? null : this._left - (Date.now() - this._at) / 1000;
    this._item.node.textContent = itemText(job, left);
    const parts = [
      job.cluster && `cluster ${job.cluster}`,
      job.node && `node ${job.node}`,
      job.profile && `profile ${job.profile}`,
      job.end && `ends ${new Date(job.end).toLocaleString()}`
    ].filter(Boolean);
    this._item.node.title = parts.join(', ');
    if (left !== null && job.state.toUpperCase() === 'RUNNING') {
      this.thresholds(job, left);
    }
  }

  /** Warn once for the smallest threshold reached; save everything at the last one. */
  thresholds(job: IJob, left: number): void {
    const warned = this._warned!;
    const all = [...job.warnings_seconds].sort((a, b) => b - a);
    const reached = all.filter(t => left <= t);
    if (!reached.length) {
      return;
    }
    const current = reached[reached.length - 1];
    if (warned.has(String(current))) {
      return;
    }
    reached.forEach(t => warned.add(String(t)));
    const last = current === all[all.length - 1];
    const message = `Job ${job.job_id} ends in ${formatLeft(left)}.`;
    if (last) {
      this.saveAll(`${message} Every open notebook was saved.`);
    } else {
      Notification.warning(`${message} Save your work.`, {
        autoClose: false,
        actions: this._actions()
      });
    }
  }

  /** A warning the job itself wrote (the scheduler's early signal): shown once. */
  jobEvents(events: IJobEvent[]): void {
    const seen = this._eventsSeen;
    for (const event of events) {
      const key = `event:${event.time}:${event.seconds_left}`;
      const endsAt = (event.time + event.seconds_left) * 1000;
      if (seen.has(key) || endsAt < Date.now()) {
        continue;
      }
      seen.add(key);
      const left = formatLeft((endsAt - Date.now()) / 1000);
      const from = event.source ? `the ${event.source}` : 'the job';
      this.saveAll(
        `Warning from ${from}: the job ends in about ${left}. Every open notebook was saved.`
      );
    }
  }

  saveAll(message: string): void {
    Notification.warning(message, { autoClose: false, actions: this._actions() });
    if (this._app.commands.hasCommand(SAVE_ALL)) {
      void this._app.commands.execute(SAVE_ALL);
    }
  }

  private _app: JupyterFrontEnd;
  private _item: Widget;
  private _job: IJob | null = null;
  private _left: number | null = null;
  private _at = 0;
  private _warned: Warned | null = null;
  private _warnedJob = '';
  private _eventsSeen = new Warned('events');
}

async function fetchJob(): Promise<IAnswer> {
  const settings = ServerConnection.makeSettings();
  const url = URLExt.join(settings.baseUrl, 'batchspawner-x', 'job');
  const response = await ServerConnection.makeRequest(url, {}, settings);
  if (!response.ok) {
    return {
      available: false,
      reason: `the server part answered HTTP ${response.status}`,
      events: []
    };
  }
  return (await response.json()) as IAnswer;
}

async function postExtend(): Promise<IExtendAnswer> {
  const settings = ServerConnection.makeSettings();
  const url = URLExt.join(settings.baseUrl, 'batchspawner-x', 'job', 'extend');
  const response = await ServerConnection.makeRequest(
    url,
    { method: 'POST' },
    settings
  );
  if (!response.ok) {
    return {
      extended: false,
      message: `the server part answered HTTP ${response.status}`
    };
  }
  return (await response.json()) as IExtendAnswer;
}

const plugin: JupyterFrontEndPlugin<void> = {
  id: 'batchspawner-x-lab:job',
  description: "The batch job's time left in the status bar, and warnings before its end.",
  autoStart: true,
  optional: [IStatusBar],
  activate: (app: JupyterFrontEnd, statusBar: IStatusBar | null) => {
    const item = new Widget();
    item.addClass('bsx-job-status');
    item.node.classList.add('jp-StatusBar-TextItem');
    const timer = new JobTimer(app, item);
    app.commands.addCommand(EXTEND, {
      label: () => timer.extendLabel || "Extend the batch job's time limit",
      caption:
        "Raise this server's batch job's time limit by one step, as far as the site allows",
      isEnabled: () => timer.offer !== null,
      execute: () => timer.extend()
    });
    if (statusBar) {
      statusBar.registerStatusItem(plugin.id, {
        item,
        align: 'left',
        rank: 1000,
        isActive: () => timer.available,
        activeStateChanged: timer.activeStateChanged
      });
    }
    timer.start();
  }
};

export default plugin;
