using System.Security.Cryptography;
using System.Text;

namespace Warren.Configuration.Tests;

/// <summary>Policies in agent.yaml and edge.yaml (docs/configuration.md, "Policies"): reading, files, secrets, and every rule with file and line.</summary>
public sealed class PolicyConfigTests : IDisposable
{
    private const string AgentHeader = "edge: edge.example.com:7443\ntoken: agent-token\nservices:\n  - name: app\n    hostnames: [app.example.com]\n    target: http://127.0.0.1:3000\n";
    private const string Bcrypt = "$2y$10$abcdefghijklmnopqrstuuWzkkzpQz3o1kmqF4x8lTP5ZPLr8ac2.";
    private readonly TestFiles _files = new();

    public void Dispose() => _files.Dispose();

    [Fact]
    public void Agent_policy_reads_every_key_loads_files_and_hashes_keys()
    {
        var htpasswd = _files.Write("users.htpasswd", $"# team\nalice:{Bcrypt}\n\nbob:{Bcrypt}\n");
        var keys = _files.Write("keys.txt", "file-key-1\n");
        var page = _files.Write("down.html", "<p>down</p>");
        var path = _files.Write("agent.yaml", AgentHeader + """
                policy:
                  use: [sso]
                  ip: {allow: [10.0.0.0/8, "2001:db8::/32"], deny: [10.1.0.0/16]}
                  basic_auth: {realm: Grafana, htpasswd_file: users.htpasswd}
                  api_keys: {header: X-Api-Key, query: key, keys: ["${API_KEY}"], keys_file: keys.txt}
                  rate_limit: {per_ip: {requests: 10, per: 1m, burst: 20}, per_service: {requests: 1000}}
                  request_headers: {set: {X-Env: prod}, remove: [X-Debug]}
                  response_headers: {set: {Strict-Transport-Security: max-age=600}}
                  strip_prefix: /api
                  add_prefix: /v1
                  https_redirect: true
                  cors: {origins: ["https://a.example.com"], methods: [GET, PUT], credentials: true, max_age: 1h}
                  maintenance: {enabled: false, page_file: down.html}
                  error_pages: {"502": down.html}
                  max_request_body_size: 10MB
                  timeout: 30s
                  jwt: {issuer: "https://id.example.com", audiences: [app], required_claims: {scope: read}, identity_headers: {X-User: sub}}
                  forward_auth: {url: "https://auth.example.com/verify", copy_headers: [Remote-User], timeout: 2s}
            """);
        var config = ConfigLoader.LoadAgent(path, new Dictionary<string, string?> { ["API_KEY"] = "env-key" });
        var policy = config.Services[0].Policy!;

        Assert.Equal(["sso"], policy.Use);
        Assert.Equal(["10.0.0.0/8", "2001:db8::/32"], policy.Ip!.Allow);
        Assert.Equal("Grafana", policy.BasicAuth!.Realm);
        Assert.Equal([$"alice:{Bcrypt}", $"bob:{Bcrypt}"], policy.BasicAuth.Users);
        Assert.Equal([Sha256("env-key"), Sha256("file-key-1")], policy.ApiKeys!.KeysSha256);
        Assert.Equal(TimeSpan.FromMinutes(1), policy.RateLimit!.PerIp!.Per);
        Assert.Equal(20, policy.RateLimit.PerIp.Burst);
        Assert.Equal(TimeSpan.FromSeconds(1), policy.RateLimit.PerService!.Per);
        Assert.Equal("prod", policy.RequestHeaders!.Set["x-env"]);
        Assert.Equal("/api", policy.StripPrefix);
        Assert.True(policy.HttpsRedirect);
        Assert.Equal(TimeSpan.FromHours(1), policy.Cors!.MaxAge);
        Assert.False(policy.Maintenance!.Enabled);
        Assert.Equal("<p>down</p>", policy.ErrorPages["502"]);
        Assert.Equal(10_000_000, policy.MaxRequestBodySize);
        Assert.Equal(TimeSpan.FromSeconds(30), policy.Timeout);
        Assert.Equal(["app"], policy.Jwt!.Audiences);
        Assert.Equal("sub", policy.Jwt.IdentityHeaders["X-User"]);
        Assert.Equal(TimeSpan.FromSeconds(2), policy.ForwardAuth!.Timeout);
        Assert.Equal(["Cookie", "Authorization"], policy.ForwardAuth.ForwardHeaders);

        // Secrets never show in the record's text (a log line that prints the config).
        Assert.DoesNotContain("env-key", policy.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain(Sha256("env-key"), policy.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain(Bcrypt, policy.ToString(), StringComparison.Ordinal);

        // The wire form (docs/protocol.md §10.2) reads back to the same policy.
        var json = PolicyJson.Serialize(policy);
        Assert.Equal("30000ms", json.GetProperty("timeout").GetString());
        var back = PolicyJson.Deserialize(json);
        Assert.Equal(policy.ApiKeys.KeysSha256, back.ApiKeys!.KeysSha256);
        Assert.Equal(policy.Timeout, back.Timeout);
        Assert.Equal(policy.Cors.Methods, back.Cors!.Methods);
    }

    [Fact]
    public void Oidc_policy_reads_every_key_loads_the_secret_file_and_never_prints_the_secret()
    {
        _files.Write("oidc.secret", "file-secret-0123456789\n");
        var path = _files.Write("agent.yaml", AgentHeader + """
                policy:
                  oidc:
                    issuer: "https://id.example.com/realms/home"
                    metadata_url: "https://id.example.com/realms/home/.well-known/openid-configuration"
                    client_id: grafana
                    client_secret_file: oidc.secret
                    scopes: [openid, email, groups]
                    callback_path: /_auth/callback
                    logout_path: /_auth/logout
                    session_lifetime: 8h
                    allowed_emails: [alice@example.com]
                    allowed_domains: [example.org]
                    allowed_groups: [admins]
                    groups_claim: roles
                    identity_headers: {X-Email: email, X-Groups: roles}
            """);
        var oidc = ConfigLoader.LoadAgent(path, TestFiles.NoEnvironment).Services[0].Policy!.Oidc!;

        Assert.Equal("https://id.example.com/realms/home", oidc.Issuer);
        Assert.Equal("grafana", oidc.ClientId);
        Assert.Equal("file-secret-0123456789", oidc.ClientSecret);
        Assert.Equal(["openid", "email", "groups"], oidc.Scopes);
        Assert.Equal("/_auth/callback", oidc.CallbackPath);
        Assert.Equal("/_auth/logout", oidc.LogoutPath);
        Assert.Equal(TimeSpan.FromHours(8), oidc.SessionLifetime);
        Assert.Equal(["alice@example.com"], oidc.AllowedEmails);
        Assert.Equal(["example.org"], oidc.AllowedDomains);
        Assert.Equal(["admins"], oidc.AllowedGroups);
        Assert.Equal("roles", oidc.GroupsClaim);
        Assert.Equal("roles", oidc.IdentityHeaders["X-Groups"]);
        Assert.Null(oidc.CookieDomain);
        Assert.DoesNotContain("file-secret", oidc.ToString(), StringComparison.Ordinal);

        var back = PolicyJson.Deserialize(PolicyJson.Serialize(new PolicyConfig { Oidc = oidc })).Oidc!;
        Assert.Equal(oidc.ClientSecret, back.ClientSecret);
        Assert.Equal(oidc.SessionLifetime, back.SessionLifetime);
        Assert.Equal(oidc.AllowedGroups, back.AllowedGroups);
        Assert.Equal("email", back.IdentityHeaders["X-Email"]);
    }

    [Theory]
    [InlineData("    policy:\n      basic_auth: {users: [\"alice:$apr1$x$y\"]}\n", "services[0].policy.basic_auth.users[0]", "only bcrypt hashes")]
    [InlineData("    policy:\n      ip: {allow: [10.0.0.1/8]}\n", "services[0].policy.ip.allow[0]", "is not an IP address or CIDR range")]
    [InlineData("    policy:\n      rate_limit: {per_ip: {requests: 0}}\n", "services[0].policy.rate_limit.per_ip.requests", "must be 1 to 1000000")]
    [InlineData("    policy:\n      strip_prefix: api/\n", "services[0].policy.strip_prefix", "must start with '/'")]
    [InlineData("    policy:\n      cors: {origins: [\"*\"], credentials: true}\n", "services[0].policy.cors.origins[0]", "cannot be combined with credentials")]
    [InlineData("    policy:\n      request_headers: {set: {Content-Length: \"5\"}}\n", "services[0].policy.request_headers.set", "cannot be set or removed")]
    [InlineData("    policy:\n      max_connections_per_ip: 3\n", "services[0].policy", "sets TCP rules")]
    [InlineData("    policy:\n      basic_auth: {htpasswd_file: missing.htpasswd}\n", "services[0].policy.basic_auth.htpasswd_file", "cannot read")]
    [InlineData("    policy:\n      bogus: 1\n", "services[0].policy.bogus", "unknown key 'bogus'")]
    [InlineData("    policy:\n      jwt: {issuer: \"http://id.example.com\", audiences: [app]}\n", "services[0].policy.jwt.issuer", "plain http to a host that is not loopback")]
    [InlineData("    policy:\n      jwt: {issuer: \"https://id.example.com\"}\n", "services[0].policy.jwt.audiences", "needs at least one audience")]
    [InlineData("    policy:\n      forward_auth: {copy_headers: [Remote-User]}\n", "services[0].policy.forward_auth.url", "required")]
    [InlineData("    policy:\n      forward_auth: {url: \"https://auth.example.com/verify\", copy_headers: [Remote_User]}\n", "services[0].policy.forward_auth.copy_headers", "is not a header name")]
    [InlineData("    policy:\n      oidc: {client_id: app}\n", "services[0].policy.oidc.issuer", "required")]
    [InlineData("    policy:\n      oidc: {issuer: \"https://id.example.com\"}\n", "services[0].policy.oidc.client_id", "required")]
    [InlineData("    policy:\n      oidc: {issuer: \"https://id.example.com\", client_id: app, cookie_domain: example.com}\n", "services[0].policy.oidc.cookie_domain", "only an edge.yaml policy")]
    [InlineData("    policy:\n      oidc: {issuer: \"https://id.example.com\", client_id: app, allowed_emails: [alice]}\n", "services[0].policy.oidc.allowed_emails[0]", "is not an e-mail address")]
    [InlineData("    policy:\n      oidc: {issuer: \"https://id.example.com\", client_id: app, logout_path: /_warren/oidc/callback}\n", "services[0].policy.oidc.logout_path", "must differ from callback_path")]
    [InlineData("    policy:\n      oidc: {issuer: \"https://id.example.com\", client_id: app, session_lifetime: 1000h}\n", "services[0].policy.oidc.session_lifetime", "must be 1m to 720h")]
    [InlineData("    policy:\n      oidc: {issuer: \"https://id.example.com\", client_id: app}\n      forward_auth: {url: \"https://auth.example.com/verify\"}\n", "services[0].policy.oidc", "cannot be combined with forward_auth")]
    public void Agent_policy_errors_name_the_field(string policy, string field, string message)
    {
        var path = _files.Write("agent.yaml", AgentHeader + policy);
        var errors = TestFiles.AgentErrors(path);
        var error = errors.FirstOrDefault(e => e.Path == field);
        Assert.True(error is not null, $"no error at {field}; got:\n{string.Join("\n", errors)}");
        Assert.Contains(message, error.Message, StringComparison.Ordinal);
        Assert.Equal(path, error.File);
        Assert.NotNull(error.Line);
    }

    [Fact]
    public void Edge_policies_match_by_host_or_port_and_tokens_require_them_by_name()
    {
        var path = _files.Write("edge.yaml", $$"""
            tokens:
              - name: homelab
                token: 0123456789abcdef0123
                allow_hosts: ["*.home.example.com"]
                require_policies: [sso]
            policies:
              - name: sso
                match: {hosts: ["*.home.example.com"]}
                basic_auth: {users: ["alice:{{Bcrypt}}"]}
              - name: db
                match: {ports: [5432]}
                ip: {allow: [192.168.0.0/16]}
                max_connections_per_ip: 4
                connection_rate: {requests: 10, per: 1m}
            """);
        var config = ConfigLoader.LoadEdge(path, TestFiles.NoEnvironment);
        Assert.Equal(["sso"], config.Tokens[0].RequirePolicies);
        Assert.Equal(["*.home.example.com"], config.Policies[0].Hosts);
        Assert.NotNull(config.Policies[0].Policy.BasicAuth);
        Assert.Equal([5432], config.Policies[1].Ports);
        Assert.Equal(4, config.Policies[1].Policy.MaxConnectionsPerIp);
    }

    [Theory]
    [InlineData("policies:\n  - name: a\n    use: [b]\n", "policies[0].use", "only an agent's service policy can use")]
    [InlineData("policies:\n  - name: a\n    match: {ports: [22]}\n    basic_auth: {users: [\"alice:" + Bcrypt + "\"]}\n", "policies[0].match.ports", "this policy has HTTP rules")]
    [InlineData("policies:\n  - name: a\n  - name: a\n", "policies[1].name", "policy names must be unique")]
    [InlineData("policies:\n  - name: A\n", "policies[0].name", "is not a valid policy name")]
    [InlineData("tokens:\n  - name: t\n    token: 0123456789abcdef0123\n    require_policies: [nope]\n", "tokens[0].require_policies[0]", "is not the name of a policy")]
    public void Edge_policy_errors_name_the_field(string yaml, string field, string message)
    {
        var path = _files.Write("edge.yaml", yaml);
        var errors = TestFiles.EdgeErrors(path);
        var error = errors.FirstOrDefault(e => e.Path == field);
        Assert.True(error is not null, $"no error at {field}; got:\n{string.Join("\n", errors)}");
        Assert.Contains(message, error.Message, StringComparison.Ordinal);
    }

    private static string Sha256(string text) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text)));
}
