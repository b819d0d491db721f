import {
  bellIcon,
  checkIcon,
  errorIcon,
  infoIcon,
  LabIcon,
  runningIcon
} from '@jupyterlab/ui-components';

import type { NotificationType } from './model';

/**
 * The icon of each notification type, wherever JLN draws one itself (the
 * inbox, the banner); the theme colours them by type through CSS.
 */
export const TYPE_ICONS: { readonly [type in NotificationType]: LabIcon } = {
  default: bellIcon,
  info: infoIcon,
  success: checkIcon,
  'in-progress': runningIcon,
  warning: errorIcon,
  error: errorIcon
};
