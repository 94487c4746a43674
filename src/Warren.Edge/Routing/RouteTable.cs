using System.Collections.Frozen;
using Warren.Configuration;
using Warren.Edge.Agents;
using Warren.Protocol.Tunnel;

namespace Warren.Edge.Routing;

/// <summary>
/// Hostname (exact, then one-label wildcard "*.example.com") and optional path prefix → service; TCP port →
/// service. Readers take an immutable snapshot without locking; registrations rebuild it under a lock.
/// <para>
/// Ownership rule (docs/security.md): a hostname or port belongs to the token that first registered it; sessions
/// of the same token share it (load spreading, failover); another token's claim is refused, never evicting.
/// </para>
/// </summary>
internal sealed class RouteTable
{
    private readonly Lock _lock = new();
    private readonly Dictionary<string, ServiceEntry> _services = new(StringComparer.Ordinal); // owner/name → entry

    // Services whose last session ended (agent stopped, crashed or lost its link): still routed, so a request for a
    // known service waits in its grace queue and then answers 503 "nobody serves it now", never 404 "no such
    // service". They own nothing (another token may claim their hostnames or port, and then shadows them) and are
    // bounded in number.
    private readonly Dictionary<string, ServiceEntry> _offline = new(StringComparer.Ordinal); // owner/name → entry
    private const int MaxOffline = 4096;
    private Snapshot _snapshot = Snapshot.Empty;
    private int _nextId;

    private sealed record Snapshot(
        FrozenDictionary<string, (string Prefix, ServiceEntry Entry)[]> Hosts,
        FrozenDictionary<int, ServiceEntry> Ports,
        FrozenDictionary<int, ServiceEntry> ById,
        bool HasPolicies,
        FrozenDictionary<string, ServiceEntry> Private)
    {
        public static readonly Snapshot Empty = new(
            FrozenDictionary<string, (string, ServiceEntry)[]>.Empty, FrozenDictionary<int, ServiceEntry>.Empty, FrozenDictionary<int, ServiceEntry>.Empty, false,
            FrozenDictionary<string, ServiceEntry>.Empty);
    }

    /// <summary>Whether any routed service has a policy: when none does, the policy middleware does not even resolve the route.</summary>
    public bool HasPolicies => Volatile.Read(ref _snapshot).HasPolicies;

    /// <summary>Raised (outside the lock) when a TCP port gains its first service or loses its last one.</summary>
    public event Action<ServiceEntry, bool>? TcpServiceChanged;

    /// <summary>Raised (outside the lock) after any registration or unregistration; <see cref="Services"/> then holds the new set.</summary>
    public event Action? Changed;

    /// <summary>Every routed service: registered ones and those offline (still routed to their grace queue).</summary>
    public IReadOnlyCollection<ServiceEntry> RoutedServices
    {
        get
        {
            lock (_lock)
            {
                return [.. _services.Values, .. _offline.Values];
            }
        }
    }

    public IReadOnlyCollection<ServiceEntry> Services
    {
        get
        {
            lock (_lock)
            {
                return [.. _services.Values];
            }
        }
    }

    /// <summary>
    /// Finds the HTTP service for a request's host and path, or null (→ 404). <paramref name="host"/> is a route key
    /// (<see cref="HostNames.TryGetRequestKey"/>): ASCII, as the client sent it; only ASCII letters are lowercased here.
    /// </summary>
    public ServiceEntry? MatchHttp(string host, string path)
    {
        var hosts = Volatile.Read(ref _snapshot).Hosts;
        host = HostNames.ToLowerAscii(host);
        if (hosts.TryGetValue(host, out var routes) && MatchPrefix(routes, path) is { } exact)
        {
            return exact;
        }
        var dot = host.IndexOf('.', StringComparison.Ordinal);
        if (dot > 0 && hosts.TryGetValue(string.Concat("*", host.AsSpan(dot)), out routes))
        {
            return MatchPrefix(routes, path);
        }
        return null;
    }

    private static ServiceEntry? MatchPrefix((string Prefix, ServiceEntry Entry)[] routes, string path)
    {
        // Longest prefix first (sorted when the snapshot is built).
        foreach (var (prefix, entry) in routes)
        {
            if (PrefixMatches(prefix, path))
            {
                return entry;
            }
        }
        return null;
    }

    /// <summary>Whether <paramref name="path"/> is under a service's path prefix ("" matches every path; "/api" matches "/api" and "/api/x", not "/apix").</summary>
    internal static bool PrefixMatches(string prefix, string path) =>
        prefix.Length == 0 || path.StartsWith(prefix, StringComparison.Ordinal)
        && (path.Length == prefix.Length || prefix.EndsWith('/') || path[prefix.Length] == '/');

    public ServiceEntry? MatchPort(int port) => Volatile.Read(ref _snapshot).Ports.GetValueOrDefault(port);

    /// <summary>
    /// The private service of that name (docs/operations.md, "Private services"), live or offline; null when none.
    /// Private services have no hostname or port, so this is the only way to them: warren connect's streams.
    /// </summary>
    public ServiceEntry? MatchPrivate(string name) => Volatile.Read(ref _snapshot).Private.GetValueOrDefault(name);

    public ServiceEntry? GetById(int id) => Volatile.Read(ref _snapshot).ById.GetValueOrDefault(id);

    /// <summary>
    /// Registers <paramref name="session"/>'s services, replacing what it registered before. Claims that come with a
    /// refusal (malformed, outside the token's grant: Agents/RegistrationHandler.cs) are answered with it; the others
    /// are checked against other tokens' ownership and this token's other services, and registered when free. Refused
    /// claims come back with a reason and the rest still register. Hostnames must be normal (HostNames.TryNormalize):
    /// they are compared ordinally, one key for ownership, routing and certificates.
    /// <para>
    /// Linear in the claims and the table: conflicts are looked up in indexes built once per call, never by comparing
    /// each claim with every registered service (14,000 services used to cost 3 s of CPU under this lock).
    /// </para>
    /// </summary>
    public IReadOnlyList<RegistrationResult> Register(AgentSession session, IReadOnlyList<ServiceClaim> claims)
    {
        var results = new List<RegistrationResult>(claims.Count);
        var changes = new List<(ServiceEntry, bool)>();
        lock (_lock)
        {
            var holders = new Holders(_services.Values);
            var kept = new List<ServiceEntry>();
            foreach (var (registration, refusal, policy) in claims)
            {
                var error = refusal ?? holders.Conflict(session.TokenName, registration);
                if (error is not null)
                {
                    results.Add(new RegistrationResult { Name = registration.Name, Ok = false, Error = error });
                    continue;
                }
                var key = session.TokenName + "/" + registration.Name;
                if (!_services.TryGetValue(key, out var entry))
                {
                    // A service coming back takes its offline entry again: requests waiting in its grace queue wait
                    // on that object, and wake when this session joins it.
                    if (_offline.Remove(key, out var offline) && offline.Kind == KindOf(registration))
                    {
                        entry = offline;
                        entry.Registration = registration;
                        entry.Restored = false; // its policy comes with this registration (below)
                    }
                    else
                    {
                        entry = new ServiceEntry(++_nextId, session.TokenName, registration);
                        if (_handedOver)
                        {
                            entry.Grace.Close();
                        }
                    }
                    _services[key] = entry;
                }
                else
                {
                    holders.Remove(entry); // its earlier hostnames and port no longer hold anything
                    entry.Registration = registration;
                }
                // Before the snapshot below publishes the route: a service is never reachable without its policy.
                entry.Policy = policy;
                holders.Add(entry);
                if (entry.Kind == StreamKind.Tcp && entry.Sessions.IsEmpty)
                {
                    changes.Add((entry, true));
                }
                entry.Add(session);
                kept.Add(entry);
                results.Add(new RegistrationResult { Name = registration.Name, Ok = true, PolicyEnforced = true });
            }
            foreach (var old in session.Services.Except(kept))
            {
                // Withdrawn on purpose (the agent's config no longer has it): gone, not offline. Its open streams
                // finish on their own; new requests get 404 once no session of the token serves it.
                RemoveSessionUnsynchronized(old, session, changes);
            }
            session.Services = kept;
            if (_hasRestored)
            {
                Volatile.Write(ref _hasRestored, _offline.Values.Any(e => e.Restored));
            }
            RebuildUnsynchronized();
        }
        RaiseChanges(changes);
        // Only now, with the session's service list and the snapshot published, may a waiter open a stream on it.
        foreach (var entry in session.Services)
        {
            entry.Grace.Wake();
        }
        return results;
    }

    /// <summary>
    /// Removes an ended session from every service it served. Services left without sessions release their
    /// hostnames and ports; HTTP ones stay routed as offline (→ 503) until registered again or shadowed.
    /// </summary>
    public void Unregister(AgentSession session)
    {
        var changes = new List<(ServiceEntry, bool)>();
        lock (_lock)
        {
            foreach (var entry in session.Services)
            {
                RemoveSessionUnsynchronized(entry, session, changes);
                KeepOfflineUnsynchronized(entry);
            }
            session.Services = [];
            RebuildUnsynchronized();
        }
        RaiseChanges(changes);
    }

    /// <summary>
    /// A service whose last session left stays known, offline: HTTP requests for it wait in its grace queue and then
    /// answer 503, never 404; a TCP port keeps listening through the grace (Tcp/TcpServiceHost.cs).
    /// </summary>
    private void KeepOfflineUnsynchronized(ServiceEntry entry)
    {
        if (!entry.Sessions.IsEmpty || _services.ContainsKey(entry.Owner + "/" + entry.Name))
        {
            return;
        }
        if (_offline.Count >= MaxOffline)
        {
            _offline.Remove(_offline.Keys.First());
        }
        _offline[entry.Owner + "/" + entry.Name] = entry;
    }

    /// <summary>
    /// Services the edge knew before it (re)started (Routing/KnownServices.cs), routed offline as if their last session
    /// had just left: a request waits in the grace queue and then gets 503, never 404; a TCP port listens through
    /// the grace. They own nothing, and wait for their agents to register them again (then they are ordinary
    /// services) until <see cref="ForgetRestored"/>. Their policy is unknown until then: requests for them wait for
    /// the registration before any policy step (Forwarding/RestoredRouteGate.cs).
    /// </summary>
    public void Restore(IEnumerable<(string Owner, ServiceRegistration Registration)> known)
    {
        var changes = new List<(ServiceEntry, bool)>();
        lock (_lock)
        {
            foreach (var (owner, registration) in known)
            {
                var key = owner + "/" + registration.Name;
                if (_services.ContainsKey(key) || _offline.ContainsKey(key) || _offline.Count >= MaxOffline)
                {
                    continue;
                }
                var entry = new ServiceEntry(++_nextId, owner, registration) { Restored = true };
                _offline[key] = entry;
                if (entry.Kind == StreamKind.Tcp)
                {
                    // Listening now, and closing after the grace unless its agent is back (Tcp/TcpServiceHost.cs).
                    changes.Add((entry, true));
                    changes.Add((entry, false));
                }
            }
            Volatile.Write(ref _hasRestored, _offline.Values.Any(e => e.Restored));
            RebuildUnsynchronized();
        }
        foreach (var (entry, added) in changes)
        {
            TcpServiceChanged?.Invoke(entry, added);
        }
    }

    /// <summary>Forgets the restored services no agent registered again (grace.remember after the start passed): 404 from now on.</summary>
    public int ForgetRestored()
    {
        int forgotten;
        lock (_lock)
        {
            var stale = _offline.Where(p => p.Value.Restored).Select(p => p.Key).ToList();
            foreach (var key in stale)
            {
                _offline.Remove(key);
            }
            forgotten = stale.Count;
            Volatile.Write(ref _hasRestored, false);
            RebuildUnsynchronized();
        }
        Changed?.Invoke();
        return forgotten;
    }

    private bool _hasRestored;

    /// <summary>Whether some restored service still waits for its agent (the request path checks only then).</summary>
    public bool HasRestored => Volatile.Read(ref _hasRestored);

    private static StreamKind KindOf(ServiceRegistration registration) => registration.Kind == "tcp" ? StreamKind.Tcp : StreamKind.Http;

    private bool _handedOver;

    /// <summary>A new edge took the listening sockets over and this one drains (Hosting/HandoverListener.cs).</summary>
    public bool HandedOver => Volatile.Read(ref _handedOver);

    /// <summary>
    /// The edge handed its sockets over: its agents move to the new edge, so a service that has no session here now
    /// never gets one again. Every grace queue closes (requests waiting in them are refused unprocessed, and go to
    /// the new edge: Forwarding/HandoverGate.cs), and so does the queue of a service registered from now on.
    /// </summary>
    public void HandOver()
    {
        ServiceEntry[] entries;
        lock (_lock)
        {
            Volatile.Write(ref _handedOver, true);
            entries = [.. _services.Values, .. _offline.Values];
        }
        foreach (var entry in entries)
        {
            entry.Grace.Close();
        }
    }

    /// <summary>The grace queue's settings (edge.yaml <c>grace</c>); replaced on reload.</summary>
    public GraceConfig Grace { get; set; } = new();

    /// <summary>Every known service, live and offline (metrics read their grace queues).</summary>
    public IReadOnlyCollection<ServiceEntry> AllEntries
    {
        get
        {
            lock (_lock)
            {
                return [.. _services.Values, .. _offline.Values];
            }
        }
    }

    private void RemoveSessionUnsynchronized(ServiceEntry entry, AgentSession session, List<(ServiceEntry, bool)> changes)
    {
        entry.Remove(session);
        if (entry.Sessions.IsEmpty)
        {
            _services.Remove(entry.Owner + "/" + entry.Name);
            if (entry.Kind == StreamKind.Tcp)
            {
                changes.Add((entry, false));
            }
        }
    }

    private void RaiseChanges(List<(ServiceEntry Entry, bool Added)> changes)
    {
        foreach (var (entry, added) in changes)
        {
            TcpServiceChanged?.Invoke(entry, added);
        }
        Changed?.Invoke();
    }

    /// <summary>
    /// Who holds each hostname, hostname and path prefix, and port among the live services, so that a claim is checked
    /// in time proportional to its own hostnames. A service of the same token and name is the claim's own earlier
    /// registration (another session joining it, or a re-registration) and never conflicts with it.
    /// </summary>
    private sealed class Holders
    {
        private readonly Dictionary<string, ServiceEntry> _hosts = new(StringComparer.Ordinal);
        private readonly Dictionary<(string Host, string Prefix), ServiceEntry> _routes = [];
        private readonly Dictionary<int, ServiceEntry> _ports = [];
        private readonly Dictionary<string, ServiceEntry> _private = new(StringComparer.Ordinal);

        public Holders(IEnumerable<ServiceEntry> services)
        {
            foreach (var entry in services)
            {
                Add(entry);
            }
        }

        public void Add(ServiceEntry entry)
        {
            var registration = entry.Registration;
            if (registration.Port is { } port)
            {
                _ports[port] = entry;
            }
            if (registration.Private == true)
            {
                _private[registration.Name] = entry;
            }
            foreach (var name in registration.Hostnames)
            {
                var host = HostNames.ToLowerAscii(name);
                _hosts[host] = entry;
                _routes[(host, registration.PathPrefix ?? "")] = entry;
            }
        }

        public void Remove(ServiceEntry entry)
        {
            var registration = entry.Registration;
            if (registration.Port is { } port && _ports.GetValueOrDefault(port) == entry)
            {
                _ports.Remove(port);
            }
            if (registration.Private == true && _private.GetValueOrDefault(registration.Name) == entry)
            {
                _private.Remove(registration.Name);
            }
            foreach (var name in registration.Hostnames)
            {
                var host = HostNames.ToLowerAscii(name);
                if (_hosts.GetValueOrDefault(host) == entry)
                {
                    _hosts.Remove(host);
                }
                if (_routes.GetValueOrDefault((host, registration.PathPrefix ?? "")) == entry)
                {
                    _routes.Remove((host, registration.PathPrefix ?? ""));
                }
            }
        }

        public string? Conflict(string owner, ServiceRegistration claim)
        {
            if (claim.Port is { } port && _ports.TryGetValue(port, out var onPort) && !IsSame(onPort, owner, claim))
            {
                return $"port {port} is already published by another service";
            }
            // One namespace of private names for the whole edge: warren connect names a service, not an owner.
            if (claim.Private == true && _private.TryGetValue(claim.Name, out var holder) && holder.Owner != owner)
            {
                return $"private service {claim.Name} is already published by another token";
            }
            foreach (var name in claim.Hostnames)
            {
                var host = HostNames.ToLowerAscii(name);
                // Every live service on a hostname belongs to one token (this check keeps it so): any holder names it.
                if (_hosts.TryGetValue(host, out var hostHolder) && hostHolder.Owner != owner)
                {
                    return $"hostname {name} is owned by another token";
                }
                if (_routes.TryGetValue((host, claim.PathPrefix ?? ""), out var route) && !IsSame(route, owner, claim))
                {
                    return $"hostname {name} with the same path prefix is already served by service {route.Name}";
                }
            }
            return null;
        }

        private static bool IsSame(ServiceEntry entry, string owner, ServiceRegistration claim) => entry.Owner == owner && entry.Name == claim.Name;
    }

    private void RebuildUnsynchronized()
    {
        var hosts = new Dictionary<string, List<(string, ServiceEntry)>>(StringComparer.Ordinal);
        var ports = new Dictionary<int, ServiceEntry>();
        var byId = new Dictionary<int, ServiceEntry>();
        var privateNames = new Dictionary<string, ServiceEntry>(StringComparer.Ordinal);
        var hasPolicies = false;
        foreach (var entry in _services.Values)
        {
            byId[entry.Id] = entry;
            hasPolicies |= entry.Policy is not null;
            if (entry.Registration.Port is { } port)
            {
                ports[port] = entry;
            }
            if (entry.Registration.Private == true)
            {
                privateNames[entry.Name] = entry;
            }
            foreach (var name in entry.Registration.Hostnames)
            {
                var host = HostNames.ToLowerAscii(name);
                if (!hosts.TryGetValue(host, out var list))
                {
                    hosts[host] = list = [];
                }
                list.Add((entry.Registration.PathPrefix ?? "", entry));
            }
        }
        foreach (var entry in _offline.Values)
        {
            hasPolicies |= entry.Policy is not null;
            if (entry.Registration.Port is { } offlinePort)
            {
                ports.TryAdd(offlinePort, entry); // a live service on the same port wins
            }
            if (entry.Registration.Private == true)
            {
                privateNames.TryAdd(entry.Name, entry); // its connect clients wait in its grace queue
            }
            var prefix = entry.Registration.PathPrefix ?? "";
            foreach (var name in entry.Registration.Hostnames)
            {
                var host = HostNames.ToLowerAscii(name);
                if (!hosts.TryGetValue(host, out var list))
                {
                    hosts[host] = list = [];
                }
                if (!list.Exists(r => r.Item1 == prefix))
                {
                    list.Add((prefix, entry)); // a live service on the same hostname and prefix wins
                }
            }
        }
        Volatile.Write(ref _snapshot, new Snapshot(
            hosts.ToFrozenDictionary(p => p.Key, p => p.Value.OrderByDescending(r => r.Item1.Length).ToArray(), StringComparer.Ordinal),
            ports.ToFrozenDictionary(),
            byId.ToFrozenDictionary(),
            hasPolicies,
            privateNames.ToFrozenDictionary(StringComparer.Ordinal)));
    }
}
