// What the console shows each role. The API enforces the same rules; the
// console only hides what a role could not do anyway.

export type Role = 'owner' | 'admin' | 'auditor' | 'viewer' | 'member';

const rank: Record<Role, number> = { member: 0, viewer: 1, auditor: 2, admin: 3, owner: 4 };

/** Whether `role` is at least `needed`. */
export function atLeast(role: Role, needed: Role): boolean {
  return rank[role] >= rank[needed];
}

/** May change the registry (servers, workspaces, provisioning, API keys, certificate identities). */
export const canAdminister = (role: Role) => atLeast(role, 'admin');
/** May read org-wide lists (users, API keys, every token). */
export const canReadOrg = (role: Role) => atLeast(role, 'viewer');
/** May change org settings and SSO providers. */
export const isOwner = (role: Role) => role === 'owner';
/** May change their own records (tokens, upstream connections): members, admins and owners; never viewers or auditors. */
export const canWriteOwn = (role: Role) => role === 'member' || atLeast(role, 'admin');
/** May read the audit trail, usage and audit settings. */
export const canAudit = (role: Role) => atLeast(role, 'auditor');
