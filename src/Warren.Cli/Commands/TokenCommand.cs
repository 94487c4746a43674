using System.CommandLine;
using Warren.Configuration;
using Warren.Edge.Tokens;

namespace Warren.Cli.Commands;

/// <summary><c>warren token create|list|revoke</c>: manage agent tokens in the edge's database.</summary>
internal static class TokenCommand
{
    public static Command Create()
    {
        var data = new Option<string?>("--data") { Description = "The edge's data directory (default: from --config, else ./warren-data)", Recursive = true };
        var config = new Option<string?>("--config", "-c") { Description = "Path to edge.yaml, to find its data directory", Recursive = true };
        var command = new Command("token", "Create, list and revoke agent tokens") { data, config };

        var name = new Option<string>("--name") { Description = "Token name (unique)", Required = true };
        var hosts = new Option<string[]>("--allow-host") { Description = "Hostname pattern the token may publish: exact (app.example.com) or one-label wildcard (*.example.com)", AllowMultipleArgumentsPerToken = false };
        var ports = new Option<int[]>("--allow-port") { Description = "TCP port the token may publish" };
        var allowPrivate = new Option<string[]>("--allow-private") { Description = "Private service the token may publish (agent.yaml private: true; docs/operations.md, Private services)" };
        var allowConnect = new Option<string[]>("--allow-connect") { Description = "Private service the token may reach with warren connect" };
        var maxSessions = new Option<int?>("--max-sessions") { Description = "Live sessions the token may hold at once" };
        var quotaDaily = new Option<string?>("--quota-daily") { Description = "Bytes per UTC day the token's services may move, e.g. 10GB (docs/console.md, Quotas)" };
        var quotaMonthly = new Option<string?>("--quota-monthly") { Description = "Bytes per UTC month the token's services may move, e.g. 200GB" };
        var create = new Command("create", "Create a token and print its secret once") { name, hosts, ports, allowPrivate, allowConnect, maxSessions, quotaDaily, quotaMonthly };
        create.SetAction(parse => Run(parse, data, config, store =>
        {
            var tokenName = parse.GetValue(name)!;
            var allowHosts = parse.GetValue(hosts) ?? [];
            var allowPorts = parse.GetValue(ports) ?? [];
            long? daily = null, monthly = null;
            foreach (var (option, set) in new (Option<string?>, Action<long>)[] { (quotaDaily, v => daily = v), (quotaMonthly, v => monthly = v) })
            {
                if (parse.GetValue(option) is { } text)
                {
                    if (!ConfigFormats.TryParseSize(text, out var bytes))
                    {
                        Console.Error.WriteLine($"warren token create: {option.Name} '{text}' is not a size; use e.g. 10GB, 512MiB or a number of bytes");
                        return 2;
                    }
                    set(bytes);
                }
            }
            var quota = daily is null && monthly is null ? null : new QuotaConfig { Daily = daily, Monthly = monthly };
            var privateServices = new PrivateGrant(parse.GetValue(allowPrivate) ?? [], parse.GetValue(allowConnect) ?? []);
            var errors = TokenRules.Problem(tokenName, allowHosts, allowPorts, parse.GetValue(maxSessions), TokenRules.Flags, quota, privateServices);
            if (errors is not null)
            {
                Console.Error.WriteLine("warren token create: " + errors);
                return 2;
            }
            var secret = store.Create(tokenName, allowHosts.Select(HostNames.ToLowerAscii).ToArray(), allowPorts, parse.GetValue(maxSessions), quota, privateServices);
            Console.WriteLine(secret);
            Console.Error.WriteLine($"Token '{tokenName}' created. This is the only time its secret is shown; only its SHA-256 is stored in {store.Location}.");
            return 0;
        }));

        var list = new Command("list", "List tokens (never their secrets)");
        list.SetAction(parse => Run(parse, data, config, store =>
        {
            Console.WriteLine($"{"NAME",-24} {"STATE",-8} {"HOSTS",-32} {"PORTS",-16} {"MAX",-4} {"CREATED",-16} PRIVATE");
            foreach (var token in store.List())
            {
                Console.WriteLine($"{token.Name,-24} {(token.RevokedAt is null ? "active" : "revoked"),-8} {string.Join(',', token.AllowHosts),-32} {string.Join(',', token.AllowPorts),-16} {token.MaxSessions?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "-",-4} {token.CreatedAt,-16:yyyy-MM-dd HH:mm} {Private(token)}");
            }
            return 0;
        }));

        var revokeName = new Argument<string>("name") { Description = "Token to revoke" };
        var revoke = new Command("revoke", "Revoke a token; a running edge closes its sessions within seconds") { revokeName };
        revoke.SetAction(parse => Run(parse, data, config, store =>
        {
            var target = parse.GetValue(revokeName)!;
            if (!store.Revoke(target))
            {
                Console.Error.WriteLine($"warren token revoke: no active token named '{target}'");
                return 1;
            }
            Console.WriteLine($"Token '{target}' revoked.");
            return 0;
        }));

        command.Subcommands.Add(create);
        command.Subcommands.Add(list);
        command.Subcommands.Add(revoke);
        return command;
    }

    /// <summary>The token's private-service grants, for the list: "publish:db connect:db", or "-".</summary>
    private static string Private(StoredToken token) =>
        token.AllowPrivate.Count + token.AllowConnect.Count == 0 ? "-"
            : string.Join(' ', token.AllowPrivate.Select(n => "publish:" + n).Concat(token.AllowConnect.Select(n => "connect:" + n)));

    private static int Run(ParseResult parse, Option<string?> data, Option<string?> config, Func<ITokenStore, int> action)
    {
        var directory = parse.GetValue(data);
        EdgeConfig? edge = null;
        if (directory is null && parse.GetValue(config) is { } path)
        {
            try
            {
                edge = ConfigLoader.LoadEdge(path, ConfigLoader.ProcessEnvironment());
                directory = edge.DataDirectory;
            }
            catch (ConfigException ex)
            {
                Console.Error.WriteLine(ex.Message);
                return 2;
            }
        }
        try
        {
            // With cluster: in edge.yaml the tokens are the cluster's, in Redis (docs/cluster.md, "Tokens").
            using var store = edge?.Cluster is not null ? TokenStores.Open(edge) : new TokenStore(directory ?? "./warren-data");
            return action(store);
        }
        catch (Exception ex) when (ex is InvalidOperationException or IOException or UnauthorizedAccessException or Microsoft.Data.Sqlite.SqliteException)
        {
            Console.Error.WriteLine("warren token: " + ex.Message);
            return 1;
        }
    }
}
