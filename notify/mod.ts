/** The public face of notify/: what other rooms may use. */

export { addChat, chatAccount, listChats, removeChat } from "./chats.ts";
export { type ChatMigration, followChatMigration } from "./chat_migration.ts";
export { notifyComponent } from "./component.ts";
export { enqueueNotification, type Severity } from "./enqueue.ts";
export { NotificationKind } from "./kinds.ts";
export { outboxStatus, retryFailed, retryOne } from "./outbox_admin.ts";
export { loopAlarm } from "./loop_alarm.ts";
