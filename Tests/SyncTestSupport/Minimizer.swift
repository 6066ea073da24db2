/// Cuts a failing randomized case down to the fewest steps that still fail, so that a failing seed
/// reads as a short story: chunks of steps are dropped while the case still fails (halves first,
/// then smaller pieces, down to single steps), until no step can go.
public enum Minimizer {
    /// `check` runs a list of steps and returns what broke, or nil when it passes. Returns the
    /// shortest failing list found and what broke in it.
    public static func minimize<Step>(_ steps: [Step], failing: String,
                                      _ check: ([Step]) throws -> String?) rethrows -> (steps: [Step], failure: String) {
        var current = steps, failure = failing
        var chunk = max(1, current.count / 2)
        while true {
            var removedAny = false
            var start = 0
            while start < current.count {
                let candidate = Array(current[..<start] + current[min(current.count, start + chunk)...])
                if let broken = try check(candidate) {
                    current = candidate
                    failure = broken
                    removedAny = true
                } else {
                    start += chunk
                }
            }
            if chunk == 1 && !removedAny { return (current, failure) }
            chunk = removedAny ? chunk : max(1, chunk / 2)
        }
    }
}
