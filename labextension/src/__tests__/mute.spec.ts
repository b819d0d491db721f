import { MuteRules } from '../mute';
import { note } from './fakes';

describe('MuteRules', () => {
  it('mutes by origin and by topic, and nothing else', () => {
    const rules = new MuteRules({
      mutedOrigins: ['CI'],
      mutedTopics: ['builds']
    });
    expect(rules.isMuted(note('1', { origin: 'CI' }))).toBe(true);
    expect(rules.isMuted(note('2', { topic: 'builds' }))).toBe(true);
    expect(rules.isMuted(note('3', { origin: 'cron', topic: 'backups' }))).toBe(
      false
    );
    expect(rules.isMuted(note('4'))).toBe(false);
  });

  it('matches exactly, case included', () => {
    const rules = new MuteRules({ mutedOrigins: ['CI'], mutedTopics: ['Ops'] });
    expect(rules.isMuted(note('1', { origin: 'ci' }))).toBe(false);
    expect(rules.isMuted(note('2', { origin: 'CI ' }))).toBe(false);
    expect(rules.isMuted(note('3', { origin: 'CI/CD' }))).toBe(false);
    expect(rules.isMuted(note('4', { topic: 'ops' }))).toBe(false);
    expect(rules.has('origin', 'CI')).toBe(true);
    expect(rules.has('topic', 'Ops')).toBe(true);
    expect(rules.has('topic', 'ops')).toBe(false);
  });

  it('mutes nothing without settings', () => {
    const rules = new MuteRules();
    expect(rules.isMuted(note('1', { origin: 'CI', topic: 'builds' }))).toBe(
      false
    );
  });

  it('gives the setting lists to write, once each, leaving its own alone', () => {
    const rules = new MuteRules({
      mutedOrigins: ['CI', 'cron'],
      mutedTopics: ['builds']
    });
    expect(rules.toggled('origin', 'deploy')).toEqual(['CI', 'cron', 'deploy']);
    expect(rules.toggled('origin', 'CI')).toEqual(['cron']);
    expect(rules.toggled('origin', 'ci')).toEqual(['CI', 'cron', 'ci']);
    expect(rules.toggled('topic', 'alerts')).toEqual(['builds', 'alerts']);
    expect(rules.toggled('topic', 'builds')).toEqual([]);
    expect(rules.has('origin', 'deploy')).toBe(false);
    expect(rules.has('topic', 'builds')).toBe(true);
    expect(MuteRules.SETTINGS).toEqual({
      origin: 'mutedOrigins',
      topic: 'mutedTopics'
    });
  });

  it('drops duplicates of the settings', () => {
    const rules = new MuteRules({ mutedOrigins: ['CI', 'CI'] });
    expect(rules.toggled('origin', 'CI')).toEqual([]);
    expect(rules.toggled('origin', 'cron')).toEqual(['CI', 'cron']);
  });
});

describe('MuteRules.readSettings', () => {
  it('keeps the strings of the two lists', () => {
    expect(
      MuteRules.readSettings({
        mutedOrigins: ['CI', 3, null, 'cron'],
        mutedTopics: ['builds'],
        other: true
      })
    ).toEqual({ mutedOrigins: ['CI', 'cron'], mutedTopics: ['builds'] });
  });

  it('reads missing or malformed lists as empty', () => {
    const empty = { mutedOrigins: [], mutedTopics: [] };
    expect(MuteRules.readSettings(undefined)).toEqual(empty);
    expect(MuteRules.readSettings('CI')).toEqual(empty);
    expect(
      MuteRules.readSettings({ mutedOrigins: 'CI', mutedTopics: { a: 1 } })
    ).toEqual(empty);
  });
});
