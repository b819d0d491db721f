import { Time } from '@jupyterlab/coreutils';
import { nullTranslator, TranslationBundle } from '@jupyterlab/translation';
import {
  bellIcon,
  circleEmptyIcon,
  circleIcon,
  closeIcon,
  ellipsesIcon,
  folderFavoriteIcon,
  HTMLSelect,
  InputGroup,
  MenuSvg,
  ReactWidget,
  ToolbarButtonComponent,
  UseSignal
} from '@jupyterlab/ui-components';
import type { CommandRegistry } from '@lumino/commands';
import type { Message } from '@lumino/messaging';
import * as React from 'react';

import {
  IDeliveredNotification,
  INotificationAction,
  ITopicCount,
  NOTIFICATION_TYPES,
  NotificationType
} from '../model';
import { Presenter } from '../presenter';
import { TYPE_ICONS } from '../typeicons';
import { InboxModel } from './model';

/**
 * The inbox side panel: the user's notifications, newest first, with
 * filters, search, paging on scroll and per-item read, save, dismiss,
 * actions and mute.
 *
 * Built from JupyterLab's UI components and theme variables; every text is
 * rendered as text (React escapes it), never as HTML. Ages are on the
 * server clock and refreshed while the panel is visible.
 */
export class InboxPanel extends ReactWidget {
  /**
   * Construct the panel on a model.
   */
  constructor(options: InboxPanel.IOptions) {
    super();
    this._model = options.model;
    this._trans = options.trans ?? nullTranslator.load('jupyterlab');
    this._commands = options.commands;
    this._runAction = options.runAction;
    this.id = InboxPanel.ID;
    this.addClass('jln-Inbox');
    this.title.icon = bellIcon;
    this.title.caption = this._trans.__('Notification Inbox');
  }

  /**
   * The model shown.
   */
  get model(): InboxModel {
    return this._model;
  }

  /**
   * Open an item from elsewhere (an OS notification, a link): show the whole
   * inbox, then expand the item, scroll to it and read it once it is listed.
   */
  reveal(id: string): void {
    const filters = this._model.filters;
    const unfiltered = Object.entries(InboxModel.NO_FILTERS).every(
      ([name, value]) => filters[name as keyof InboxModel.IFilters] === value
    );
    const shown = unfiltered
      ? Promise.resolve()
      : this._model.setFilters(InboxModel.NO_FILTERS);
    void shown
      .then(() => this._model.find(id))
      .then(item => {
        if (item !== null) {
          this._expanded = id;
          this._revealing = id;
          this.update();
        }
      });
  }

  /**
   * Load the list again: now when it is visible, else when next shown (after
   * a reconnection, what changed meanwhile is only on the server).
   */
  refresh(): void {
    this._loaded = false;
    if (this.isVisible) {
      this._loaded = true;
      void this._model.load();
    }
  }

  /**
   * Render the panel.
   */
  render(): JSX.Element {
    return (
      <UseSignal signal={this._model.changed}>
        {() => (
          <InboxView
            model={this._model}
            trans={this._trans}
            expanded={this._expanded}
            revealing={this._revealing}
            onRevealed={this._onRevealed}
            onToggle={this._onToggle}
            onMenu={this._onMenu}
            runAction={this._runAction}
          />
        )}
      </UseSignal>
    );
  }

  /**
   * Load on first show and refresh ages while visible.
   */
  protected onAfterShow(msg: Message): void {
    super.onAfterShow(msg);
    if (!this._loaded) {
      this._loaded = true;
      void this._model.load();
    }
    this._ageTimer = setInterval(
      () => this.update(),
      InboxPanel.AGE_REFRESH_MS
    );
  }

  /**
   * Stop refreshing ages while hidden.
   */
  protected onBeforeHide(msg: Message): void {
    if (this._ageTimer !== null) {
      clearInterval(this._ageTimer);
      this._ageTimer = null;
    }
    super.onBeforeHide(msg);
  }

  /**
   * Stop the timer and the model.
   */
  dispose(): void {
    if (this._ageTimer !== null) {
      clearInterval(this._ageTimer);
      this._ageTimer = null;
    }
    super.dispose();
  }

  private _onToggle = (item: IDeliveredNotification): void => {
    this._expanded = this._expanded === item.id ? null : item.id;
    this.update();
    void this._model.open(item);
  };

  private _onRevealed = (item: IDeliveredNotification): void => {
    this._revealing = null;
    void this._model.open(item);
  };

  private _onMenu = (
    item: IDeliveredNotification,
    event: React.MouseEvent
  ): void => {
    const menu = new MenuSvg({ commands: this._commands });
    if (item.origin) {
      menu.addItem({
        command: InboxPanel.MUTE_ORIGIN_COMMAND,
        args: { origin: item.origin }
      });
    }
    if (item.topic) {
      menu.addItem({
        command: InboxPanel.MUTE_TOPIC_COMMAND,
        args: { topic: item.topic }
      });
    }
    if (menu.items.length === 0) {
      menu.dispose();
      return;
    }
    menu.aboutToClose.connect(() =>
      requestAnimationFrame(() => menu.dispose())
    );
    menu.open(event.clientX, event.clientY);
  };

  private _ageTimer: ReturnType<typeof setInterval> | null = null;
  private _commands: CommandRegistry;
  private _expanded: string | null = null;
  private _revealing: string | null = null;
  private _loaded = false;
  private _model: InboxModel;
  private _runAction: (action: INotificationAction) => void;
  private _trans: TranslationBundle;
}

/**
 * A namespace for InboxPanel statics.
 */
export namespace InboxPanel {
  /**
   * The panel's id in the shell.
   */
  export const ID = 'jln-inbox';

  /**
   * The command that mutes an origin (`{origin}`).
   */
  export const MUTE_ORIGIN_COMMAND = 'jln:mute-origin';

  /**
   * The command that mutes a topic (`{topic}`).
   */
  export const MUTE_TOPIC_COMMAND = 'jln:mute-topic';

  /**
   * How often ages are redrawn while the panel is visible, in ms.
   */
  export const AGE_REFRESH_MS = 30 * 1000;

  /**
   * How long the search box waits for typing to pause, in ms.
   */
  export const SEARCH_DELAY_MS = 300;

  /**
   * The options of the panel.
   */
  export interface IOptions {
    /**
     * The model to show.
     */
    model: InboxModel;
    /**
     * The command registry, for the item menus.
     */
    commands: CommandRegistry;
    /**
     * Run an item's action with the toasts' rules (links, allowed commands).
     */
    runAction: (action: INotificationAction) => void;
    /**
     * The translation bundle.
     */
    trans?: TranslationBundle;
  }
}

namespace Private {
  /**
   * What every view of the panel receives.
   */
  export interface IViewProps {
    model: InboxModel;
    trans: TranslationBundle;
    expanded: string | null;
    revealing: string | null;
    onRevealed: (item: IDeliveredNotification) => void;
    onToggle: (item: IDeliveredNotification) => void;
    onMenu: (item: IDeliveredNotification, event: React.MouseEvent) => void;
    runAction: (action: INotificationAction) => void;
  }
}

function InboxView(props: Private.IViewProps): JSX.Element {
  const { model, trans } = props;
  const onScroll = (event: React.UIEvent<HTMLElement>) => {
    const list = event.currentTarget;
    if (list.scrollTop + list.clientHeight >= list.scrollHeight - 48) {
      void model.loadMore();
    }
  };
  const { unread, total } = model.counts;
  return (
    <div className="jln-Inbox-content">
      <Filters {...props} />
      <div className="jln-Inbox-summary">
        <span className="jln-Inbox-counts">
          {trans._n('%1 notification', '%1 notifications', total) +
            ', ' +
            trans._n('%1 unread', '%1 unread', unread)}
        </span>
        <button
          className="jp-Button jp-mod-styled jp-mod-minimal jln-Inbox-markAll"
          disabled={unread === 0}
          onClick={() => void model.markAllRead()}
        >
          {trans.__('Mark all read')}
        </button>
      </div>
      {model.error !== null && (
        <div className="jln-Inbox-error" role="alert">
          {trans.__('The inbox could not be updated: %1', model.error)}
        </div>
      )}
      <ul className="jln-Inbox-list" onScroll={onScroll}>
        {model.items.map(item => (
          <InboxItem key={item.id} item={item} {...props} />
        ))}
        {model.items.length === 0 && !model.loading && (
          <li className="jln-Inbox-empty">{trans.__('No notifications')}</li>
        )}
        {model.hasMore && (
          <li className="jln-Inbox-more">
            <button
              className="jp-Button jp-mod-styled"
              disabled={model.loading}
              onClick={() => void model.loadMore()}
            >
              {model.loading ? trans.__('Loading…') : trans.__('Load more')}
            </button>
          </li>
        )}
      </ul>
    </div>
  );
}

function Filters(props: Private.IViewProps): JSX.Element {
  const { model, trans } = props;
  const filters = model.filters;
  return (
    <div className="jln-Inbox-filters">
      <SearchBox model={model} trans={trans} />
      <div className="jln-Inbox-selects">
        <HTMLSelect
          aria-label={trans.__('Show')}
          className="jln-Inbox-show"
          value={filters.show}
          onChange={event =>
            void model.setFilters({
              show: event.currentTarget.value as InboxModel.Show
            })
          }
          options={[
            { label: trans.__('All'), value: 'all' },
            { label: trans.__('Unread'), value: 'unread' },
            { label: trans.__('Saved'), value: 'saved' }
          ]}
        />
        <HTMLSelect
          aria-label={trans.__('Type')}
          className="jln-Inbox-type"
          value={filters.type}
          onChange={event =>
            void model.setFilters({
              type: event.currentTarget.value as NotificationType | ''
            })
          }
          options={[
            { label: trans.__('any type'), value: '' },
            ...NOTIFICATION_TYPES.map(type => ({ label: type, value: type }))
          ]}
        />
        <NameFilter
          model={model}
          name="topic"
          label={trans.__('Topic')}
          any={trans.__('any topic')}
          names={model.topics.topics}
        />
        <NameFilter
          model={model}
          name="origin"
          label={trans.__('Origin')}
          any={trans.__('any origin')}
          names={model.topics.origins}
        />
      </div>
    </div>
  );
}

function NameFilter(props: {
  model: InboxModel;
  name: 'topic' | 'origin';
  label: string;
  any: string;
  names: ReadonlyArray<ITopicCount>;
}): JSX.Element {
  const { model, name } = props;
  return (
    <HTMLSelect
      aria-label={props.label}
      className={`jln-Inbox-${name}`}
      value={model.filters[name]}
      onChange={event =>
        void model.setFilters({ [name]: event.currentTarget.value })
      }
      options={[
        { label: props.any, value: '' },
        ...props.names.map(entry => ({ label: entry.name, value: entry.name }))
      ]}
    />
  );
}

function SearchBox(props: {
  model: InboxModel;
  trans: TranslationBundle;
}): JSX.Element {
  const { model, trans } = props;
  const [text, setText] = React.useState(model.filters.search);
  React.useEffect(() => {
    if (text === model.filters.search) {
      return;
    }
    const timer = setTimeout(
      () => void model.setFilters({ search: text }),
      InboxPanel.SEARCH_DELAY_MS
    );
    return () => clearTimeout(timer);
  }, [text]);
  return (
    <InputGroup
      className="jln-Inbox-search"
      type="search"
      aria-label={trans.__('Search notifications')}
      placeholder={trans.__('Search')}
      rightIcon="ui-components:search"
      value={text}
      onChange={event => setText(event.currentTarget.value)}
    />
  );
}

function InboxItem(
  props: Private.IViewProps & { item: IDeliveredNotification }
): JSX.Element {
  const { item, model, trans } = props;
  const muted = model.isMuted(item);
  const expanded = props.expanded === item.id;
  const sent = new Date(item.createdAt - model.clock.offset);
  const meta = [item.origin, item.topic].filter(Boolean).join(' · ');
  const Icon = TYPE_ICONS[item.type].react;
  const open = () => props.onToggle(item);
  // Only the banner's button acknowledges: reading here must not do it.
  const awaitingAck = item.requireAck === true && !item.read;
  return (
    <li
      className={`jln-InboxItem${expanded ? ' jln-mod-expanded' : ''}`}
      data-jln-id={item.id}
      data-jln-type={item.type}
      data-jln-read={String(item.read)}
      data-jln-saved={String(item.saved)}
      data-jln-muted={String(muted)}
      ref={
        props.revealing === item.id
          ? node => {
              if (node) {
                node.scrollIntoView({ block: 'nearest' });
                props.onRevealed(item);
              }
            }
          : undefined
      }
    >
      <Icon className="jln-InboxItem-icon" tag="span" />
      <div
        className="jln-InboxItem-body"
        role="button"
        tabIndex={0}
        aria-expanded={expanded}
        onClick={open}
        onKeyDown={event => {
          if (event.key === 'Enter' || event.key === ' ') {
            event.preventDefault();
            open();
          }
        }}
      >
        {item.title && <div className="jln-InboxItem-title">{item.title}</div>}
        <div className="jln-InboxItem-message">{item.message}</div>
        <div className="jln-InboxItem-meta">
          {meta && <span>{meta} · </span>}
          <time dateTime={sent.toISOString()} title={Time.format(sent)}>
            {Time.formatHuman(sent)}
          </time>
          {muted && (
            <span className="jln-InboxItem-muted"> · {trans.__('muted')}</span>
          )}
        </div>
      </div>
      <div className="jln-InboxItem-footer">
        <Actions item={item} runAction={props.runAction} trans={trans} />
        <div className="jln-InboxItem-tools">
          {!awaitingAck && (
            <ToolbarButtonComponent
              className="jln-InboxItem-read"
              icon={item.read ? circleEmptyIcon : circleIcon}
              tooltip={
                item.read ? trans.__('Mark unread') : trans.__('Mark read')
              }
              onClick={() => void model.markRead([item.id], !item.read)}
            />
          )}
          <ToolbarButtonComponent
            className="jln-InboxItem-save"
            icon={folderFavoriteIcon}
            pressed={item.saved}
            tooltip={trans.__('Save')}
            pressedTooltip={trans.__('Unsave')}
            onClick={() => void model.save(item.id, !item.saved)}
          />
          {!item.pinned && (
            <ToolbarButtonComponent
              className="jln-InboxItem-dismiss"
              icon={closeIcon}
              tooltip={trans.__('Dismiss')}
              onClick={() => void model.dismiss(item.id)}
            />
          )}
          {(item.origin || item.topic) && (
            <ToolbarButtonComponent
              className="jln-InboxItem-menu"
              icon={ellipsesIcon}
              tooltip={trans.__('More')}
              aria-haspopup={true}
              onClick={event => {
                if (event) {
                  props.onMenu(item, event as React.MouseEvent);
                }
              }}
            />
          )}
        </div>
      </div>
    </li>
  );
}

function Actions(props: {
  item: IDeliveredNotification;
  runAction: (action: INotificationAction) => void;
  trans: TranslationBundle;
}): JSX.Element {
  const { item, trans } = props;
  const actions = Presenter.actionsOf(item, trans);
  return (
    <div className="jln-InboxItem-actions">
      {actions.map((action, index) => (
        <button
          key={index}
          className={`jp-Button jp-mod-styled jln-InboxItem-action jln-mod-${action.displayType}`}
          title={action.caption || action.link || action.commandId || ''}
          onClick={() => props.runAction(action)}
        >
          {action.label}
        </button>
      ))}
    </div>
  );
}
