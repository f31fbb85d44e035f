// Seconds left, ticking: the API gives `expiresIn` at fetch time and the page counts down.
import { countdownWords, formatCountdown, remainingSeconds } from '../format.js';

export interface CountdownProps {
  expiresIn: number;
  fetchedAt: number;
  now: number;
}

export const Countdown = ({ expiresIn, fetchedAt, now }: CountdownProps) => {
  const left = remainingSeconds(expiresIn, fetchedAt, now);
  return (
    <span class={left <= 0 ? 'countdown expired' : left < 30 ? 'countdown soon' : 'countdown'} title={countdownWords(left)} data-countdown="">
      {formatCountdown(left)}
    </span>
  );
};
