// Optional sound effects of the game view: off by default, switched on by the player and
// remembered (localStorage). Short synthesized tones (WebAudio): no files to load, nothing
// inline for the CSP. The AudioContext is only created once sound is on (browsers also require a
// user gesture, which the toggle is).

/** Where the setting lives ('1' = on). */
export const SOUND_KEY = 'rally.sound';

/** @typedef {'hit'|'score'|'serve'} SoundKind */

/** Tones by effect: frequency (Hz), duration (s). */
const TONES = /** @type {Record<SoundKind, [number, number]>} */ ({ hit: [660, 0.05], score: [330, 0.25], serve: [880, 0.03] });

export class Sound {
  constructor() {
    this.on = localStorage.getItem(SOUND_KEY) === '1';
    /** @type {AudioContext|null} */
    this.ctx = null;
    /** Effects played (tests read them through __rally.sounds). */
    this.played = 0;
  }

  /** @param {boolean} on */
  set(on) {
    this.on = on;
    localStorage.setItem(SOUND_KEY, on ? '1' : '0');
  }

  /** @param {SoundKind} kind */
  play(kind) {
    if (!this.on) return;
    this.played++;
    try {
      if (!this.ctx) this.ctx = new AudioContext();
      const [freq, dur] = TONES[kind];
      const t = this.ctx.currentTime;
      const osc = this.ctx.createOscillator();
      const gain = this.ctx.createGain();
      osc.frequency.value = freq;
      gain.gain.setValueAtTime(0.15, t);
      gain.gain.exponentialRampToValueAtTime(0.001, t + dur);
      osc.connect(gain).connect(this.ctx.destination);
      osc.start(t);
      osc.stop(t + dur);
    } catch {
      // No audio device (or a browser without WebAudio): silence.
    }
  }
}
