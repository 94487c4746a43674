namespace Warren.FaultTests.Harness;

/// <summary>
/// Runs alone, after every parallel test, so the managed heap it measures (the edge and agent live in the test
/// process) holds its own transfers only.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class ClientMemoryCollection
{
    public const string Name = "client memory";
}
