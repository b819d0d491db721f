import {
  nullTranslator,
  type TranslationBundle
} from '@jupyterlab/translation';
import type { Message } from '@lumino/messaging';
import { Widget } from '@lumino/widgets';

import { IDeliveredNotification } from '../model';
import { TYPE_ICONS } from '../typeicons';
import { PinsModel } from './model';

/**
 * The pinned notices, across the top of JupyterLab: one line each, newest
 * first, with the icon and colours of its type, its title and message as
 * plain text, and no close button. A notice that asks for an
 * acknowledgement has an Acknowledge button, which marks it read (the read
 * receipt). The banner hides itself when there is no notice.
 */
export class PinBanner extends Widget {
  /**
   * Construct a banner showing the pins of a model.
   */
  constructor(options: PinBanner.IOptions) {
    super();
    this._model = options.model;
    this._acknowledge = options.acknowledge;
    this._trans = options.trans ?? nullTranslator.load('jupyterlab');
    this.id = 'jln-banner';
    this.addClass('jln-Banner');
    this.node.setAttribute('role', 'region');
    this.node.setAttribute(
      'aria-label',
      this._trans.__('Pinned notifications')
    );
    this._model.changed.connect(this._render, this);
    this._render();
  }

  private _render(): void {
    const pins = this._model.pins;
    const items = pins.map(pin => this._item(pin));
    this.node.replaceChildren(...items);
    this.setHidden(pins.length === 0);
    this.update();
  }

  /**
   * Take the height of the notices. The shell's header area is a box layout
   * that gives a widget its minimum height and no more, so the banner sets
   * its minimum to what its notices need (up to a third of the window,
   * scrolling beyond) and asks the layout to fit again.
   */
  protected onUpdateRequest(msg: Message): void {
    super.onUpdateRequest(msg);
    const needed = Array.from(this.node.children).reduce(
      (sum, child) => sum + child.getBoundingClientRect().height,
      0
    );
    const height = `${Math.ceil(Math.min(needed, window.innerHeight / 3))}px`;
    if (this.node.style.minHeight !== height) {
      this.node.style.minHeight = height;
      this.parent?.fit();
    }
  }

  /**
   * Measure again once in the page.
   */
  protected onAfterAttach(msg: Message): void {
    super.onAfterAttach(msg);
    this.update();
  }

  /**
   * Measure again when the width changes: notices may wrap differently.
   */
  protected onResize(msg: Widget.ResizeMessage): void {
    super.onResize(msg);
    this.update();
  }

  private _item(pin: IDeliveredNotification): HTMLElement {
    const item = document.createElement('div');
    item.className = 'jln-BannerItem';
    item.dataset.jlnId = pin.id;
    item.dataset.jlnType = pin.type;
    item.append(
      TYPE_ICONS[pin.type].element({
        tag: 'span',
        className: 'jln-BannerItem-icon'
      })
    );
    const text = document.createElement('div');
    text.className = 'jln-BannerItem-text';
    if (pin.title) {
      const title = document.createElement('span');
      title.className = 'jln-BannerItem-title';
      title.textContent = pin.title;
      text.append(title);
    }
    const message = document.createElement('span');
    message.className = 'jln-BannerItem-message';
    message.textContent = pin.message;
    text.append(message);
    item.append(text);
    if (pin.requireAck) {
      item.append(this._ackButton(pin.id));
    }
    return item;
  }

  private _ackButton(id: string): HTMLElement {
    const button = document.createElement('button');
    button.type = 'button';
    button.className =
      'jln-BannerItem-ack jp-Button jp-mod-styled jp-mod-accept';
    button.textContent = this._trans.__('Acknowledge');
    button.addEventListener('click', () => {
      button.disabled = true;
      button.removeAttribute('title');
      this._acknowledge(id).then(
        () => this._model.markRead([id]),
        (reason: unknown) => {
          button.disabled = false;
          button.title = this._trans.__(
            'Not acknowledged: %1',
            reason instanceof Error ? reason.message : String(reason)
          );
        }
      );
    });
    return button;
  }

  private _model: PinsModel;
  private _acknowledge: (id: string) => Promise<unknown>;
  private _trans: TranslationBundle;
}

/**
 * A namespace for PinBanner statics.
 */
export namespace PinBanner {
  /**
   * The options of a banner.
   */
  export interface IOptions {
    /**
     * The pins to show.
     */
    model: PinsModel;
    /**
     * Acknowledge a notice: mark it read by its id on the server (the read
     * receipt). When it resolves the notice leaves the banner; when it
     * rejects the button can be clicked again.
     */
    acknowledge: (id: string) => Promise<unknown>;
    /**
     * The translation bundle of the button and labels; English when absent.
     */
    trans?: TranslationBundle;
  }
}
