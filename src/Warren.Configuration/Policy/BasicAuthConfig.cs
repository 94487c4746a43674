using System.Text;

namespace Warren.Configuration;

/// <summary>
/// YAML key <c>basic_auth</c>: users as htpasswd lines ("alice:$2y$10$..."), bcrypt hashes only (htpasswd -B).
/// YAML also takes <c>htpasswd_file</c>, read when the configuration is loaded.
/// </summary>
public sealed record BasicAuthConfig
{
    /// <summary>YAML key <c>realm</c>, shown by browsers in the login prompt.</summary>
    public string Realm { get; init; } = "warren";

    /// <summary>YAML key <c>users</c>: "name:bcrypt-hash" lines.</summary>
    public IReadOnlyList<string> Users { get; init; } = [];

    // Hashes are not secrets in the strict sense, but they are offline-guessable: never printed.
    private bool PrintMembers(StringBuilder builder)
    {
        builder.Append("Realm = ").Append(Realm).Append(", Users = ").Append(Users.Count).Append(" (not shown)");
        return true;
    }
}
