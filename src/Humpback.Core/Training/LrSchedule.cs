namespace Humpback.Training;

public enum ScheduleKind
{
    Linear,
    Cosine,
    Constant,
}

/// <summary>Learning rate per step: linear warm-up from 0, then linear or cosine decay from <see cref="Lr"/> to
/// <see cref="FinalLr"/> at the last step, or constant. The paper: 1e-5 decaying linearly to 9e-6.</summary>
public sealed record LrSchedule(ScheduleKind Kind, float Lr, float FinalLr, int WarmupSteps, long TotalSteps)
{
    /// <summary>Learning rate of optimizer step <paramref name="step"/> (0-based).</summary>
    public float At(long step)
    {
        if (WarmupSteps > 0 && step < WarmupSteps) return Lr * (step + 1) / WarmupSteps;
        if (Kind == ScheduleKind.Constant) return Lr;
        long decaySteps = Math.Max(1, TotalSteps - WarmupSteps - 1);
        double p = Math.Clamp((double)(step - WarmupSteps) / decaySteps, 0, 1);
        double f = Kind == ScheduleKind.Linear ? p : 0.5 * (1 - Math.Cos(Math.PI * p));
        return (float)(Lr + (FinalLr - Lr) * f);
    }
}
