export const PLANS = ['starter', 'growth', 'enterprise'] as const

/** A key's plan; it sets the key's rate limits. */
export type Plan = (typeof PLANS)[number]

/** A plan's request quotas; `perDay` undefined means no daily cap. */
export type PlanLimits = { perMinute: number; perDay?: number }

/** Quotas by plan, as the public API docs list them. */
export const PLAN_LIMITS: Record<Plan, PlanLimits> = {
  starter: { perMinute: 60, perDay: 10_000 },
  growth: { perMinute: 300, perDay: 50_000 },
  enterprise: { perMinute: 1_000 },
}

export function isPlan(value: string): value is Plan {
  return (PLANS as readonly string[]).includes(value)
}
