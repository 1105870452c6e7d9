import type { Person } from '../templates/context';
import type { ChatChannel, NotifyTarget } from '../journey/schema';
import type { SalesDirectory, SalesPerson } from './directory';

export type ChatAudience = {
  /** The contact's owner and their team's manager, for templates (`owner.name`, `manager.name`). */
  owner: Person | undefined;
  manager: Person | undefined;
  /** Who the message is for (stored as the message's recipient). */
  recipientId: string | null;
  /** The provider user id to @-mention: the person's chat handle for this channel, else their id. */
  mention: string | null;
};

const person = (p: SalesPerson): Person => ({ id: p.id, name: p.name, ...(p.email ? { email: p.email } : {}) });

/**
 * Resolves `to: owner | manager | { user }` against the sales directory, so a notification @-mentions the rep's chat
 * handle (journeys/sales/teams.yaml) rather than the owner id the CRM knows them by. People outside the directory
 * are mentioned by their id, as before.
 */
export function chatAudience(dir: SalesDirectory | undefined, ownerId: string | null, to: NotifyTarget, channel: ChatChannel): ChatAudience {
  const ownerRep = ownerId ? dir?.rep(ownerId) : undefined;
  const manager = ownerRep?.team.manager;
  const owner = ownerId ? (ownerRep ? person(ownerRep.rep) : { id: ownerId }) : undefined;
  const managerPerson = manager ? person(manager) : undefined;
  const handle = (id: string, p: SalesPerson | undefined) => p?.chat[channel] ?? id;
  if (to === 'owner') return { owner, manager: managerPerson, recipientId: ownerId, mention: ownerId ? handle(ownerId, ownerRep?.rep) : null };
  if (to === 'manager') return { owner, manager: managerPerson, recipientId: manager?.id ?? null, mention: manager ? handle(manager.id, manager) : null };
  if ('user' in to) return { owner, manager: managerPerson, recipientId: to.user, mention: handle(to.user, dir?.rep(to.user)?.rep) };
  return { owner, manager: managerPerson, recipientId: null, mention: null };
}
