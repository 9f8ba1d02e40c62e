using CsCheck;
using DreamBooth.Fuzz;
using FluentAssertions;
using Xunit;

namespace DreamBooth.Tests.Fuzz;

/// <summary>
/// The fuzzing rule inside the normal suite, bounded in time: valid seed files (the fuzz seeds: golden configs, generated
/// safetensors, tokenizer files and pickles) are broken by bit flips, truncation, insertions, extreme values and
/// JSON-aware edits, and every result must load or fail with a one-line <see cref="DreamBoothException"/> within the
/// allocation budget (<see cref="FuzzTargets.RunChecked"/>). The long runs are <c>./fuzz</c> (AFL++).
/// </summary>
public class ParserPropertyTests
{
    /// <summary>Seconds of sampling per target.</summary>
    private const int Seconds = 3;

    [Theory]
    [InlineData("safetensors")]
    [InlineData("config")]
    [InlineData("tokenizer")]
    [InlineData("pickle")]
    public void Mutated_valid_files_load_or_fail_with_one_line(string targetName)
    {
        var target = FuzzTargets.Find(targetName);
        var seeds = Seeds.For(targetName).Select(s => s.Bytes).ToArray();
        using var workspace = new FuzzWorkspace();
        int loaded = 0, refused = 0;

        var kinds = targetName == "pickle"
            ? Gen.OneOf(MutationKind.BitFlips, MutationKind.Truncate, MutationKind.Insert, MutationKind.Overwrite, MutationKind.Pickle)
            : Gen.OneOf(MutationKind.BitFlips, MutationKind.Truncate, MutationKind.Insert, MutationKind.Overwrite, MutationKind.Json, MutationKind.Json);
        var mutations = Gen.Select(Gen.Int[0, seeds.Length - 1], kinds, Gen.Int, (seed, kind, random) => new Mutation(seed, kind, random));

        mutations.Sample(m =>
        {
            var input = m.Apply(seeds[m.Seed]);
            string? message;
            try
            {
                message = FuzzTargets.RunChecked(target, input, workspace);
            }
            catch (Exception e)
            {
                // Keep the input so that it can become a file under Fuzz/Findings.
                var saved = Path.Combine(Path.GetTempPath(), $"dreambooth-finding-{targetName}-{Math.Abs(m.Random)}-{m.Kind}");
                File.WriteAllBytes(saved, input);
                throw new Xunit.Sdk.XunitException($"{m}: {e.GetType().Name}: {e.Message} (input saved to {saved})");
            }
            if (message is null) loaded++;
            else refused++;
        }, time: Seconds, threads: 1, print: m => m.ToString());

        // Both outcomes occur, so the mutations neither always break the files nor never do.
        refused.Should().BeGreaterThan(0);
        loaded.Should().BeGreaterThan(0);
    }

    [Fact]
    public void Every_seed_loads()
    {
        using var workspace = new FuzzWorkspace();
        foreach (var target in FuzzTargets.All)
            foreach (var (name, bytes) in Seeds.For(target.Name))
                FuzzTargets.RunChecked(target, bytes, workspace).Should().BeNull($"seed {name} of {target.Name} is a valid file");
    }
}
