/**
 * Which tests a run selects, from their full titles (tags included), the way
 * upstream's --focus/--skip work. `run` and `list` both use this one
 * function, so --list shows exactly what run would run.
 */
export interface Selection {
  focus?: string;
  skip?: string;
  disruptive: boolean;
}

export function selects(fullTitle: string, s: Selection): boolean {
  if (s.focus && !new RegExp(s.focus).test(fullTitle)) return false;
  if (s.skip && new RegExp(s.skip).test(fullTitle)) return false;
  // [Disruptive] tests run only with --disruptive, whatever the focus.
  if (fullTitle.includes('[Disruptive]') && !s.disruptive) return false;
  return true;
}
